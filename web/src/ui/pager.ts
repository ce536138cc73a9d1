// Previous/next for a paginated list (`Page<T>` answers).

import { t } from "../i18n";
import { h } from "./dom";

export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

/** "Page 2 of 5" with previous/next buttons; nothing when everything fits on one page. */
export function pager(
  current: { page: number; page_size: number; total: number },
  go: (page: number) => void,
): HTMLElement | null {
  const pages = pageCount(current.total, current.page_size);
  if (pages <= 1 && current.page <= 1) return null;
  const previous = h("button", { type: "button", "data-testid": "pager-previous", disabled: current.page <= 1 }, t("pager.previous"));
  const next = h("button", { type: "button", "data-testid": "pager-next", disabled: current.page >= pages }, t("pager.next"));
  previous.addEventListener("click", () => go(current.page - 1));
  next.addEventListener("click", () => go(current.page + 1));
  return h(
    "nav",
    { class: "pager", "aria-label": t("pager.label") },
    previous,
    h("span", { "data-testid": "pager-status" }, t("pager.status", { page: current.page, pages })),
    next,
  );
}
