// `/meetings/:id`: one meeting — its time, status and description, the way in (join, edit) —
// and its recordings (player, downloads, start and stop while live, delete for the host).

import type { Meeting } from "../api/meetings";
import { getMeeting } from "../api/meetings";
import type { Page } from "../app/router";
import { t } from "../i18n";
import { timeRange } from "../meetings/time";
import { RecordingsSection } from "../recordings/section";
import { h } from "../ui/dom";

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

const isManager = (meeting: Meeting) => meeting.my_role === "host" || meeting.my_role === "co_host";
const isOpen = (meeting: Meeting) => meeting.status === "scheduled" || meeting.status === "live";

/** A scheduled meeting whose end passed without anyone joining was not held. */
function shownStatus(meeting: Meeting, now: number): string {
  return meeting.status === "scheduled" && Date.parse(meeting.end_time) < now ? "not_held" : meeting.status;
}

function summary(meeting: Meeting): HTMLElement {
  const status = shownStatus(meeting, Date.now());
  const badges = h(
    "div",
    { class: "badges" },
    h("span", { class: `badge status-${status}`, "data-testid": "meeting-status" }, t(`meeting.status.${status}`)),
    meeting.my_role ? h("span", { class: "badge", "data-testid": "meeting-role" }, t(`meeting.role.${meeting.my_role}`)) : null,
    h("span", { class: "badge" }, t(`meeting.type.${meeting.meeting_type}`)),
    meeting.settings.recording ? h("span", { class: "badge", "data-testid": "meeting-recording-allowed" }, t("meeting_page.recording_allowed")) : null,
  );
  const actions = h("div", { class: "row meeting-actions" });
  if (isOpen(meeting) && status !== "not_held") {
    const starts = meeting.status === "scheduled" && isManager(meeting);
    actions.append(
      h("a", { href: `/join/${meeting.id}`, class: "button primary", "data-testid": "meeting-join" }, starts ? t("dashboard.start") : t("dashboard.join")),
    );
    if (isManager(meeting)) {
      actions.append(h("a", { href: `/meetings/${meeting.id}/edit`, class: "button", "data-testid": "meeting-edit" }, t("dashboard.edit")));
    }
  }
  actions.append(h("a", { href: "/", class: "button secondary", "data-testid": "meeting-back" }, t("meeting_page.back")));
  return h(
    "header",
    { class: "meeting-head" },
    h("h1", { "data-testid": "meeting-title" }, meeting.title),
    h("p", { class: "meeting-time" }, h("time", { datetime: meeting.start_time }, timeRange(meeting))),
    badges,
    meeting.description ? h("p", { class: "meeting-description", "data-testid": "meeting-description" }, meeting.description) : null,
    actions,
  );
}

const page: Page = async (root, { params, user }) => {
  root.replaceChildren(h("p", { class: "card", role: "status" }, t("common.loading")));
  let meeting: Meeting;
  try {
    meeting = await getMeeting(params.id!);
  } catch (error) {
    root.replaceChildren(
      h(
        "section",
        { class: "card" },
        h("p", { class: "alert", role: "alert", "data-testid": "meeting-error" }, messageOf(error)),
        h("a", { href: "/", class: "button secondary" }, t("common.home")),
      ),
    );
    return;
  }
  const recordings = new RecordingsSection(meeting, {
    manage: isManager(meeting),
    delete: meeting.my_role === "host" || user?.role === "admin",
  });
  root.replaceChildren(h("div", { class: "page meeting-page", "data-testid": "meeting-page" }, summary(meeting), recordings.element));
  void recordings.load();
  return () => recordings.destroy();
};
export default page;
