// `/`: your meetings. Upcoming ones (live and scheduled, by start) with what you may do with them,
// and the history; both paginated. Starting a meeting right away, scheduling one, and joining
// by link are one click from here.

import type { Page as ListPage } from "../api/http";
import {
  cancelMeeting,
  createInviteLink,
  createMeeting,
  inviteUrl,
  myMeetings,
  type Meeting,
  type MeetingList,
} from "../api/meetings";
import { navigate, type Page } from "../app/router";
import { t } from "../i18n";
import { pageCount } from "../meetings/model";
import { timeRange } from "../meetings/time";
import { h } from "../ui/dom";

const PAGE_SIZE = 10;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

const isManager = (meeting: Meeting) => meeting.my_role === "host" || meeting.my_role === "co_host";
const isOpen = (meeting: Meeting) => meeting.status === "scheduled" || meeting.status === "live";

/** Copy the link; where the Clipboard API is missing or refused, show it selected instead. */
async function copyInvite(meeting: Meeting, output: HTMLElement): Promise<void> {
  output.hidden = false;
  output.replaceChildren(h("span", { role: "status" }, t("common.loading")));
  let link: string;
  try {
    const invite = await createInviteLink(meeting.id);
    link = inviteUrl(location.origin, meeting.id, invite.token ?? "");
  } catch (error) {
    output.replaceChildren(h("span", { class: "alert", role: "alert" }, messageOf(error)));
    return;
  }
  try {
    await navigator.clipboard.writeText(link);
    output.replaceChildren(h("span", { role: "status", class: "copied", "data-testid": "invite-copied" }, t("dashboard.copied")));
    output.dataset.link = link;
  } catch {
    const field = h("input", {
      readonly: true,
      value: link,
      "aria-label": t("dashboard.invite_link"),
      "data-testid": "invite-link",
    });
    output.replaceChildren(h("span", { role: "status" }, t("dashboard.copy_manually")), field);
    field.focus();
    field.select();
  }
}

function meetingItem(meeting: Meeting, list: MeetingList, onCancelled: (meeting: Meeting) => void): HTMLElement {
  const actions = h("div", { class: "meeting-actions" });
  const output = h("div", { class: "invite-output", "data-testid": "invite-output", hidden: true });
  const confirm = h("div", { class: "confirm", "data-testid": "cancel-confirm", hidden: true });
  if (list === "upcoming" && isOpen(meeting)) {
    const starts = meeting.status === "scheduled" && isManager(meeting);
    actions.append(
      h(
        "a",
        { href: `/join/${meeting.id}`, class: "button primary", "data-testid": "meeting-join" },
        starts ? t("dashboard.start") : t("dashboard.join"),
      ),
    );
    if (isManager(meeting)) {
      const copy = h("button", { type: "button", "data-testid": "copy-invite" }, t("dashboard.copy_invite"));
      copy.addEventListener("click", () => void copyInvite(meeting, output));
      actions.append(
        copy,
        h("a", { href: `/meetings/${meeting.id}/edit`, class: "button", "data-testid": "meeting-edit" }, t("dashboard.edit")),
      );
    }
    if (meeting.my_role === "host" && meeting.status === "scheduled") {
      const cancel = h("button", { type: "button", class: "danger", "data-testid": "meeting-cancel" }, t("dashboard.cancel"));
      const yes = h("button", { type: "button", class: "danger", "data-testid": "confirm-cancel" }, t("dashboard.cancel_yes"));
      const no = h("button", { type: "button", "data-testid": "keep-meeting" }, t("dashboard.cancel_no"));
      const problem = h("p", { class: "alert", role: "alert", hidden: true });
      confirm.append(h("p", {}, t("dashboard.cancel_confirm", { title: meeting.title })), yes, no, problem);
      cancel.addEventListener("click", () => {
        confirm.hidden = false;
        no.focus();
      });
      no.addEventListener("click", () => {
        confirm.hidden = true;
        cancel.focus();
      });
      yes.addEventListener("click", async () => {
        yes.disabled = true;
        try {
          await cancelMeeting(meeting.id);
          onCancelled(meeting);
        } catch (error) {
          problem.textContent = messageOf(error);
          problem.hidden = false;
          yes.disabled = false;
        }
      });
      actions.append(cancel);
    }
  }
  const badges = h("div", { class: "badges" });
  // A scheduled meeting in the history is one whose time passed without anyone joining.
  const status = list === "history" && meeting.status === "scheduled" ? "not_held" : meeting.status;
  badges.append(
    h("span", { class: `badge status-${status}`, "data-testid": "meeting-status" }, t(`meeting.status.${status}`)),
  );
  if (meeting.my_role) {
    badges.append(h("span", { class: "badge", "data-testid": "meeting-role" }, t(`meeting.role.${meeting.my_role}`)));
  }
  if (meeting.has_password) badges.append(h("span", { class: "badge" }, t("meeting.has_password")));
  if (meeting.settings.require_approval) badges.append(h("span", { class: "badge" }, t("meeting.approval")));
  return h(
    "li",
    { class: "meeting", "data-testid": "meeting", "data-id": meeting.id, "data-status": meeting.status },
    h("h3", { "data-testid": "meeting-name" }, h("a", { href: `/meetings/${meeting.id}`, "data-testid": "meeting-link" }, meeting.title)),
    h("p", { class: "meeting-time" }, h("time", { datetime: meeting.start_time, "data-testid": "meeting-time" }, timeRange(meeting))),
    badges,
    actions,
    output,
    confirm,
  );
}

/** One paginated list (upcoming or history) with its own loading and error states. */
function meetingList(list: MeetingList, onCancelled: (meeting: Meeting) => void): { element: HTMLElement; load: (page?: number) => Promise<void> } {
  const heading = h("h2", { id: `${list}-heading` }, t(`dashboard.${list}`));
  const body = h("div", { "aria-live": "polite", "aria-busy": "false" });
  const element = h("section", { class: "meeting-list", "aria-labelledby": `${list}-heading`, "data-testid": list }, heading, body);
  let current = 1;

  const pager = (result: ListPage<Meeting>): HTMLElement | null => {
    const pages = pageCount(result.total, result.page_size);
    if (pages <= 1) return null;
    const previous = h("button", { type: "button", disabled: result.page <= 1, "data-testid": "page-previous" }, t("dashboard.previous"));
    const next = h("button", { type: "button", disabled: result.page >= pages, "data-testid": "page-next" }, t("dashboard.next"));
    previous.addEventListener("click", () => void load(result.page - 1));
    next.addEventListener("click", () => void load(result.page + 1));
    return h(
      "nav",
      { class: "pager", "aria-label": t("dashboard.pages", { list: t(`dashboard.${list}`) }) },
      previous,
      h("span", { "data-testid": "page-info" }, t("dashboard.page_of", { page: result.page, pages })),
      next,
    );
  };

  async function load(page = current): Promise<void> {
    current = page;
    body.setAttribute("aria-busy", "true");
    if (!body.firstChild) body.append(h("p", { role: "status" }, t("common.loading")));
    try {
      const result = await myMeetings(list, page, PAGE_SIZE);
      if (result.items.length === 0 && page > 1) return load(page - 1); // the last one went away
      body.replaceChildren(
        result.items.length === 0
          ? h("p", { class: "empty", "data-testid": `${list}-empty` }, t(`dashboard.${list}_empty`))
          : h("ul", { class: "meetings" }, ...result.items.map((meeting) => meetingItem(meeting, list, onCancelled))),
        pager(result) ?? "",
      );
    } catch (error) {
      const retry = h("button", { type: "button" }, t("dashboard.retry"));
      retry.addEventListener("click", () => void load(page));
      body.replaceChildren(h("p", { class: "alert", role: "alert" }, messageOf(error)), retry);
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  }
  return { element, load };
}

const page: Page = (root, { user }) => {
  const error = h("p", { class: "alert", role: "alert", hidden: true, "data-testid": "dashboard-error" });
  const notice = h("p", { class: "info", role: "status", hidden: true, "data-testid": "dashboard-notice" });
  const start = h("button", { type: "button", class: "primary", "data-testid": "start-instant" }, t("dashboard.start_now"));
  const schedule = h("a", { href: "/meetings/new", class: "button", "data-testid": "new-meeting" }, t("dashboard.new_meeting"));
  const target = h("input", { id: "meeting", name: "meeting", required: true, "data-testid": "join-target" });
  const join = h(
    "form",
    { class: "join-by-link", "aria-label": t("dashboard.join_by_link") },
    h("label", { for: "meeting" }, t("dashboard.join_label")),
    h("div", { class: "row" }, target, h("button", { type: "submit" }, t("dashboard.join"))),
  );
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const meeting = await createMeeting({ title: t("dashboard.default_title", { name: user.display_name }) });
      navigate(`/join/${meeting.id}`);
    } catch (exc) {
      error.textContent = messageOf(exc);
      error.hidden = false;
      start.disabled = false;
    }
  });
  join.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = target.value.trim();
    try {
      const url = new URL(value, location.origin);
      navigate(url.pathname.startsWith("/join/") ? url.pathname + url.search : `/join/${encodeURIComponent(value)}`);
    } catch {
      navigate(`/join/${encodeURIComponent(value)}`);
    }
  });

  const lists: ReturnType<typeof meetingList>[] = [];
  const onCancelled = (meeting: Meeting) => {
    notice.textContent = t("dashboard.cancelled", { title: meeting.title });
    notice.hidden = false;
    // A cancelled meeting moves from upcoming to history: both lists load again.
    for (const list of lists) void list.load();
  };
  lists.push(meetingList("upcoming", onCancelled), meetingList("history", onCancelled));

  root.replaceChildren(
    h(
      "div",
      { class: "dashboard", "data-testid": "home" },
      h(
        "header",
        { class: "dashboard-head" },
        h(
          "div",
          {},
          h("h1", {}, t("dashboard.title")),
          h("p", { class: "muted-text", "data-testid": "signed-in-as" }, t("dashboard.signed_in_as", { name: user.display_name })),
        ),
        h("div", { class: "row" }, start, schedule),
      ),
      error,
      notice,
      join,
      ...lists.map((list) => list.element),
    ),
  );
  for (const list of lists) void list.load();
};
export default page;
