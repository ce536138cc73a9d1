import { createMeeting } from "../api/meetings";
import { navigate, type Page } from "../app/router";
import { t } from "../i18n";
import { h } from "../ui/dom";

const page: Page = (root, { user }) => {
  const error = h("p", { class: "alert", role: "alert", hidden: true });
  const start = h("button", { type: "button", "data-testid": "new-meeting" }, t("dashboard.start_now"));
  const target = h("input", { id: "meeting", name: "meeting", required: true, "data-testid": "join-target" });
  const join = h(
    "form",
    { "aria-label": t("dashboard.join") },
    h("label", { for: "meeting" }, t("dashboard.join_label")),
    target,
    h("button", { type: "submit" }, t("dashboard.join")),
  );
  start.addEventListener("click", async () => {
    try {
      const meeting = await createMeeting(t("dashboard.default_title", { name: user.display_name }));
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
  root.replaceChildren(
    h(
      "section",
      { class: "card", "data-testid": "home" },
      h("h1", {}, t("dashboard.title")),
      h("p", { "data-testid": "signed-in-as" }, t("dashboard.signed_in_as", { name: user.display_name })),
      start,
      join,
      error,
    ),
  );
};
export default page;
