// `/admin/meetings` (administrators): the meetings live now, with who hosts them and how many
// people are connected, and a way to end one for everyone; below, the media nodes with their
// load and forwarding (streams, packets per second, bitrate, CPU). Refreshes itself.

import {
  endMeeting,
  getUser,
  listLiveMeetings,
  listNodes,
  roomStatus,
  type AdminMeeting,
  type NodeStatus,
  type RoomStatus,
} from "../api/admin";
import type { Page as ListPage } from "../api/http";
import type { Page } from "../app/router";
import { getState } from "../app/store";
import { formatDateTime, t } from "../i18n";
import { ask } from "../ui/dialog";
import { h } from "../ui/dom";
import { formatBitrate, formatNumber } from "../ui/format";
import { pager } from "../ui/pager";
import { adminTabs } from "./admin-tabs";

const PAGE_SIZE = 20;
const REFRESH_MS = 10_000;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const page: Page = (root) => {
  const locale = getState().locale;
  let current = 1;
  const hosts = new Map<string, Promise<string>>(); // user id -> display name

  const error = h("p", { class: "alert", role: "alert", "data-testid": "admin-error", hidden: true });
  const notice = h("p", { class: "info", role: "status", "data-testid": "admin-notice", hidden: true });
  const meetings = h("div", { "aria-busy": "true", "data-testid": "live-meetings" }, h("p", {}, t("common.loading")));
  const nodes = h("div", { "aria-busy": "true", "data-testid": "media-nodes" }, h("p", {}, t("common.loading")));
  const refresh = h("button", { type: "button", "data-testid": "admin-refresh" }, t("admin.refresh"));
  refresh.addEventListener("click", () => void load());

  function hostName(id: string): Promise<string> {
    if (!hosts.has(id)) hosts.set(id, getUser(id).then((user) => user.display_name, () => "—"));
    return hosts.get(id)!;
  }

  async function room(id: string): Promise<RoomStatus | null> {
    return roomStatus(id).catch(() => null); // counts are a help, not a reason to fail the page
  }

  async function loadMeetings(pageNumber: number): Promise<void> {
    const result = await listLiveMeetings(pageNumber, PAGE_SIZE);
    current = pageNumber;
    const details = await Promise.all(result.items.map(async (m) => [await hostName(m.host_id), await room(m.id)] as const));
    meetings.setAttribute("aria-busy", "false");
    meetings.replaceChildren(...renderMeetings(result, details));
  }

  function renderMeetings(result: ListPage<AdminMeeting>, details: (readonly [string, RoomStatus | null])[]): (Node | string)[] {
    if (result.items.length === 0) return [h("p", { "data-testid": "no-live-meetings" }, t("admin.meetings.none"))];
    const head = h(
      "tr",
      {},
      ...["admin.meetings.col.title", "admin.meetings.col.host", "admin.meetings.col.started", "admin.meetings.col.people", "admin.meetings.col.node", "admin.meetings.col.actions"].map(
        (key) => h("th", { scope: "col" }, t(key)),
      ),
    );
    const rows = result.items.map((meeting, index) => {
      const [host, status] = details[index]!;
      const people = status?.participants ?? [];
      const end = h(
        "button",
        { type: "button", class: "danger", "data-testid": "meeting-end", "aria-label": t("admin.meetings.end_named", { title: meeting.title }) },
        t("admin.meetings.end"),
      );
      end.addEventListener("click", () => void forceEnd(meeting, end));
      return h(
        "tr",
        { "data-testid": "meeting-row", "data-meeting-id": meeting.id },
        h("td", {}, h("strong", {}, meeting.title), h("small", { class: "detail" }, meeting.id)),
        h("td", {}, host),
        h("td", {}, meeting.started_at ? formatDateTime(meeting.started_at) : "—"),
        h(
          "td",
          { "data-testid": "meeting-people" },
          status ? String(people.length) : "—",
          people.length ? h("small", { class: "detail" }, people.map((p) => p.display_name).join(", ")) : null,
        ),
        h("td", { "data-testid": "meeting-node" }, status?.node_id ?? "—"),
        h("td", { class: "actions" }, end),
      );
    });
    return [
      h(
        "div",
        { class: "table-wrap" },
        h("table", { class: "data", "data-testid": "meetings-table" }, h("caption", { class: "sr-only" }, t("admin.meetings.live")), h("thead", {}, head), h("tbody", {}, ...rows)),
      ),
      pager(result, (next) => void loadMeetings(next).catch(fail)) ?? "",
    ];
  }

  async function forceEnd(meeting: AdminMeeting, button: HTMLButtonElement): Promise<void> {
    const confirmed = await ask({
      title: t("admin.meetings.end_title"),
      message: t("admin.meetings.end_confirm", { title: meeting.title }),
      confirm: t("admin.meetings.end"),
      danger: true,
    });
    if (confirmed === null) return;
    button.disabled = true;
    try {
      await endMeeting(meeting.id);
      error.hidden = true;
      notice.textContent = t("admin.meetings.ended", { title: meeting.title });
      notice.hidden = false;
      await loadMeetings(current);
    } catch (exc) {
      button.disabled = false;
      fail(exc);
    }
  }

  async function loadNodes(): Promise<void> {
    const list = await listNodes();
    nodes.setAttribute("aria-busy", "false");
    if (list.length === 0) {
      nodes.replaceChildren(h("p", { "data-testid": "no-nodes" }, t("admin.nodes.none")));
      return;
    }
    const head = h(
      "tr",
      {},
      ...["admin.nodes.col.node", "admin.nodes.col.load", "admin.nodes.col.streams", "admin.nodes.col.packets", "admin.nodes.col.bitrate", "admin.nodes.col.cpu", "admin.nodes.col.seen"].map(
        (key) => h("th", { scope: "col" }, t(key)),
      ),
    );
    nodes.replaceChildren(
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data numbers", "data-testid": "nodes-table" },
          h("caption", { class: "sr-only" }, t("admin.nodes.title")),
          h("thead", {}, head),
          h("tbody", {}, ...list.map(nodeRow)),
        ),
      ),
    );
  }

  function nodeRow(node: NodeStatus): HTMLElement {
    const s = node.stats;
    const ago = Math.max(0, Math.round(Date.now() / 1000 - node.seen_at));
    return h(
      "tr",
      { "data-testid": "node-row", "data-node-id": node.id },
      h("td", {}, h("strong", {}, node.id), h("small", { class: "detail" }, node.signaling_url)),
      h(
        "td",
        { "data-testid": "node-load" },
        t("admin.nodes.people", { count: node.load }),
        h("small", { class: "detail" }, t("admin.nodes.rooms", { count: s.rooms })),
      ),
      h("td", { "data-testid": "node-streams" }, formatNumber(s.forwarded_streams, locale), h("small", { class: "detail" }, t("admin.nodes.tracks", { count: s.published_tracks }))),
      h("td", {}, t("admin.nodes.packets", { received: formatNumber(s.packets_in_per_second, locale), sent: formatNumber(s.packets_out_per_second, locale) })),
      h("td", {}, t("admin.nodes.bitrate", { received: formatBitrate(s.bitrate_in, locale), sent: formatBitrate(s.bitrate_out, locale) })),
      h("td", { "data-testid": "node-cpu" }, `${formatNumber(s.cpu_percent, locale, 1)} %`),
      h("td", {}, t("admin.nodes.seconds_ago", { seconds: ago })),
    );
  }

  function fail(exc: unknown): void {
    error.textContent = message(exc);
    error.hidden = false;
  }

  async function load(): Promise<void> {
    refresh.disabled = true;
    const outcomes = await Promise.allSettled([loadMeetings(current), loadNodes()]);
    refresh.disabled = false;
    const failed = outcomes.find((outcome) => outcome.status === "rejected");
    if (failed) fail(failed.reason);
    else error.hidden = true;
    for (const [index, outcome] of outcomes.entries()) {
      const target = index === 0 ? meetings : nodes;
      if (outcome.status === "rejected" && target.getAttribute("aria-busy") === "true") {
        target.setAttribute("aria-busy", "false");
        target.replaceChildren(); // never a spinner forever
      }
    }
  }

  root.replaceChildren(
    h(
      "section",
      { class: "page admin-page", "data-testid": "admin-meetings" },
      adminTabs("/admin/meetings"),
      h("div", { class: "heading" }, h("h1", {}, t("admin.meetings.title")), refresh),
      notice,
      error,
      h("h2", {}, t("admin.meetings.live")),
      meetings,
      h("h2", {}, t("admin.nodes.title")),
      h("p", { class: "lead" }, t("admin.nodes.intro")),
      nodes,
    ),
  );
  void load();
  const timer = window.setInterval(() => {
    // Redrawing under someone about to press "End" would move their focus away.
    if (document.querySelector("dialog[open]") || meetings.contains(document.activeElement)) return;
    void load();
  }, REFRESH_MS);
  return () => window.clearInterval(timer);
};
export default page;
