// Client-side routes: `/` (sign in, then start or join a meeting) and `/join/{meetingId}`
// (optionally `?invite=TOKEN`), the room. The gateway answers every unknown path with this page.

import "./style.css";
import {
  ApiError,
  createMeeting,
  currentUser,
  joinMeeting,
  login,
  logout,
  type JoinTicket,
  type User,
} from "./api";
import { h } from "./dom";
import { RoomSession } from "./room/session";
import { renderRoom } from "./room/view";

declare global {
  interface Window {
    /** The room session of this page, for tests and debugging in the console. */
    meetingSession?: RoomSession;
  }
}

const app = document.getElementById("app")!;

function navigate(path: string): void {
  history.pushState(null, "", path);
  void route();
}

window.addEventListener("popstate", () => void route());

async function route(): Promise<void> {
  const match = /^\/join\/([^/]+)\/?$/.exec(location.pathname);
  const meetingId = match ? decodeURIComponent(match[1]!) : null;
  let user: User | null;
  try {
    user = await currentUser();
  } catch {
    app.replaceChildren(h("p", { role: "alert" }, "The server cannot be reached. Try again later."));
    return;
  }
  if (!user) {
    renderSignIn(meetingId ? "Sign in to join the meeting." : null);
    return;
  }
  if (meetingId) {
    await openRoom(meetingId, new URLSearchParams(location.search).get("invite"));
    return;
  }
  renderHome(user);
}

// --- sign in -------------------------------------------------------------------------------

function renderSignIn(message: string | null): void {
  const loginInput = h("input", {
    id: "login",
    name: "login",
    autocomplete: "username",
    required: true,
    "data-testid": "signin-login",
  });
  const passwordInput = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "data-testid": "signin-password",
  });
  const error = h("p", { class: "alert", role: "alert", "data-testid": "signin-error", hidden: true });
  const submit = h("button", { type: "submit", "data-testid": "signin-submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card", "data-testid": "signin-form", "aria-label": "Sign in" },
    h("h1", {}, "Sign in"),
    message ? h("p", {}, message) : null,
    h("label", { for: "login" }, "Username or email"),
    loginInput,
    h("label", { for: "password" }, "Password"),
    passwordInput,
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      await login(loginInput.value.trim(), passwordInput.value);
      await route();
    } catch (exc) {
      error.textContent = exc instanceof ApiError ? exc.message : "The server cannot be reached.";
      error.hidden = false;
      submit.disabled = false;
    }
  });
  app.replaceChildren(form);
  loginInput.focus();
}

// --- home ----------------------------------------------------------------------------------

function renderHome(user: User): void {
  const error = h("p", { class: "alert", role: "alert", hidden: true });
  const start = h("button", { type: "button", "data-testid": "new-meeting" }, "Start a new meeting");
  const target = h("input", { id: "meeting", name: "meeting", required: true, "data-testid": "join-target" });
  const join = h(
    "form",
    { "aria-label": "Join a meeting" },
    h("label", { for: "meeting" }, "Meeting link or id"),
    target,
    h("button", { type: "submit" }, "Join"),
  );
  const signOut = h("button", { type: "button", class: "link" }, "Sign out");
  start.addEventListener("click", async () => {
    try {
      const meeting = await createMeeting(`${user.display_name}'s meeting`);
      navigate(`/join/${meeting.id}`);
    } catch (exc) {
      error.textContent = exc instanceof Error ? exc.message : String(exc);
      error.hidden = false;
    }
  });
  join.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = target.value.trim();
    try {
      const url = new URL(value, location.origin);
      navigate(url.pathname.startsWith("/join/") ? url.pathname + url.search : `/join/${value}`);
    } catch {
      navigate(`/join/${encodeURIComponent(value)}`);
    }
  });
  signOut.addEventListener("click", async () => {
    await logout().catch(() => undefined);
    navigate("/");
  });
  app.replaceChildren(
    h(
      "section",
      { class: "card", "data-testid": "home" },
      h("h1", {}, "meeting-system"),
      h("p", { "data-testid": "signed-in-as" }, `Signed in as ${user.display_name}`),
      start,
      join,
      error,
      signOut,
    ),
  );
}

// --- the room ------------------------------------------------------------------------------

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000];

async function openRoom(meetingId: string, invite: string | null, reconnecting = false): Promise<void> {
  const message = h(
    "p",
    { role: "status", "data-testid": reconnecting ? "reconnecting" : "join-status" },
    reconnecting ? "Connection lost. Reconnecting…" : "Joining the meeting…",
  );
  app.replaceChildren(h("section", { class: "card" }, message));
  let ticket: JoinTicket | null = null;
  let attempt = 0;
  while (!ticket) {
    try {
      const outcome = await joinMeeting(meetingId, invite);
      if ("join_token" in outcome) {
        ticket = outcome;
      } else {
        message.textContent = "Waiting for a host to let you in…";
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    } catch (exc) {
      const unreachable = !(exc instanceof ApiError);
      if (reconnecting && unreachable && attempt < RECONNECT_DELAYS_MS.length) {
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAYS_MS[attempt++]));
        continue; // the network is still down: keep trying for a while
      }
      const text = exc instanceof ApiError ? exc.message : "The server cannot be reached.";
      const back = h("button", { type: "button" }, "Back to start");
      back.addEventListener("click", () => navigate("/"));
      app.replaceChildren(
        h("section", { class: "card" }, h("p", { class: "alert", role: "alert", "data-testid": "join-error" }, text), back),
      );
      return;
    }
  }
  const session = new RoomSession(ticket);
  window.meetingSession = session;
  renderRoom(app, session, () => navigate("/"));
  let rejoining = false;
  session.addEventListener("change", (event) => {
    if ((event as CustomEvent<string>).detail !== "status" || !session.reconnectable) return;
    if (rejoining) return;
    rejoining = true; // a lost connection: join again with a fresh ticket
    void openRoom(meetingId, invite, true);
  });
  try {
    await session.start();
  } catch {
    // the view shows why (session.endReason)
  }
}

void route();
