// `/join/:id` (optionally `?invite=TOKEN`): join the meeting (waiting in the lobby when a host
// must decide), then the room. A lost connection is joined again by itself.

import { ApiError } from "../api/http";
import { joinMeeting, type JoinTicket } from "../api/meetings";
import { navigate, type Page } from "../app/router";
import { t } from "../i18n";
import { RoomSession } from "../room/session";
import { renderRoom } from "../room/view";
import { h } from "../ui/dom";

declare global {
  interface Window {
    /** The room session of this page, for tests and debugging in the console. */
    meetingSession?: RoomSession;
  }
}

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000];

async function openRoom(root: HTMLElement, meetingId: string, invite: string | null, reconnecting: boolean): Promise<void> {
  const message = h(
    "p",
    { role: "status", "data-testid": reconnecting ? "reconnecting" : "join-status" },
    reconnecting ? t("join.reconnecting") : t("join.joining"),
  );
  root.replaceChildren(h("section", { class: "card" }, message));
  let ticket: JoinTicket | null = null;
  let attempt = 0;
  while (!ticket) {
    try {
      const outcome = await joinMeeting(meetingId, invite ? { invite_token: invite } : {});
      if ("join_token" in outcome) {
        ticket = outcome;
      } else {
        message.textContent = t("join.waiting");
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    } catch (exc) {
      const unreachable = !(exc instanceof ApiError);
      if (reconnecting && unreachable && attempt < RECONNECT_DELAYS_MS.length) {
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAYS_MS[attempt++]));
        continue; // the network is still down: keep trying for a while
      }
      const text = exc instanceof Error ? exc.message : String(exc);
      const back = h("button", { type: "button" }, t("join.back"));
      back.addEventListener("click", () => navigate("/"));
      root.replaceChildren(
        h("section", { class: "card" }, h("p", { class: "alert", role: "alert", "data-testid": "join-error" }, text), back),
      );
      return;
    }
  }
  const session = new RoomSession(ticket);
  window.meetingSession = session;
  renderRoom(root, session, () => navigate("/"));
  let rejoining = false;
  session.addEventListener("change", (event) => {
    if ((event as CustomEvent<string>).detail !== "status" || !session.reconnectable) return;
    if (rejoining) return;
    rejoining = true; // a lost connection: join again with a fresh ticket
    void openRoom(root, meetingId, invite, true);
  });
  try {
    await session.start();
  } catch {
    // the view shows why (session.endReason)
  }
}

const page: Page = async (root, { params, query }) => {
  await openRoom(root, params.id!, query.get("invite"), false);
  return () => window.meetingSession?.leave();
};
export default page;
