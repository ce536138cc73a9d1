// The links between the administration pages.

import { t } from "../i18n";
import { h } from "../ui/dom";

const TABS = [
  { href: "/admin/users", key: "admin.tab.users", testid: "admin-tab-users" },
  { href: "/admin/meetings", key: "admin.tab.meetings", testid: "admin-tab-meetings" },
];

export function adminTabs(current: string): HTMLElement {
  return h(
    "nav",
    { class: "tabs", "aria-label": t("admin.tabs") },
    ...TABS.map((tab) =>
      h("a", { href: tab.href, "data-testid": tab.testid, "aria-current": tab.href === current ? "page" : null }, t(tab.key)),
    ),
  );
}
