// `/admin/users` (administrators): find accounts by name or email, see their role and status,
// ban (with a reason) or unban, make someone an administrator or a user, delete an account.
// The search is kept in the address (`?q=&status=&page=`) so that it survives a reload.

import { banUser, deleteUser, listUsers, setRole, unbanUser, type AdminUser } from "../api/admin";
import type { User } from "../api/account";
import type { Page as ListPage } from "../api/http";
import { navigate, type Page } from "../app/router";
import { formatDateTime, t } from "../i18n";
import { ask } from "../ui/dialog";
import { h } from "../ui/dom";
import { pager } from "../ui/pager";
import { adminTabs } from "./admin-tabs";

const PAGE_SIZE = 20;
const STATUSES = ["", "active", "banned"] as const;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const page: Page = async (root, { query, user: me }) => {
  const q = query.get("q") ?? "";
  const statusFilter = query.get("status") ?? "";
  const pageNumber = Math.max(1, Number(query.get("page")) || 1);

  const error = h("p", { class: "alert", role: "alert", "data-testid": "admin-error", hidden: true });
  const notice = h("p", { class: "info", role: "status", "data-testid": "admin-notice", hidden: true });
  const results = h("div", { class: "admin-results", "aria-busy": "true" }, h("p", {}, t("common.loading")));

  const search = h("input", { id: "user-search", type: "search", name: "q", value: q, maxlength: 100, "data-testid": "user-search" });
  const status = h(
    "select",
    { id: "user-status", name: "status", "data-testid": "user-status-filter" },
    ...STATUSES.map((value) => h("option", { value, selected: value === statusFilter }, t(`admin.users.filter.${value || "all"}`))),
  );
  const form = h(
    "form",
    { role: "search", class: "toolbar", "aria-label": t("admin.users.find") },
    h("label", { for: "user-search" }, t("admin.users.search")),
    search,
    h("label", { for: "user-status" }, t("admin.users.status")),
    status,
    h("button", { type: "submit", "data-testid": "user-search-submit" }, t("admin.users.search_button")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go({ q: search.value.trim(), status: status.value, page: 1 });
  });

  function go(next: { q?: string; status?: string; page?: number }): void {
    const params = new URLSearchParams();
    const value = { q, status: statusFilter, page: pageNumber, ...next };
    if (value.q) params.set("q", value.q);
    if (value.status) params.set("status", value.status);
    if (value.page > 1) params.set("page", String(value.page));
    const text = params.toString();
    navigate(`/admin/users${text ? `?${text}` : ""}`);
  }

  function fail(exc: unknown): void {
    notice.hidden = true;
    error.textContent = message(exc);
    error.hidden = false;
  }

  function done(text: string): void {
    error.hidden = true;
    notice.textContent = text;
    notice.hidden = false;
  }

  function render(result: ListPage<AdminUser>): void {
    results.setAttribute("aria-busy", "false");
    const count = h("p", { "data-testid": "user-count" }, t("admin.users.count", { count: result.total }));
    if (result.items.length === 0) {
      results.replaceChildren(count, h("p", { "data-testid": "users-empty" }, t("admin.users.none")));
      return;
    }
    const head = h(
      "tr",
      {},
      ...["admin.users.col.user", "admin.users.col.role", "admin.users.col.status", "admin.users.col.joined", "admin.users.col.actions"].map(
        (key) => h("th", { scope: "col" }, t(key)),
      ),
    );
    results.replaceChildren(
      count,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data", "data-testid": "users-table" },
          h("caption", { class: "sr-only" }, t("admin.tab.users")),
          h("thead", {}, head),
          h("tbody", {}, ...result.items.map(row)),
        ),
      ),
      pager(result, (next) => go({ page: next })) ?? "",
    );
  }

  function row(account: AdminUser): HTMLElement {
    const self = account.id === me.id;
    const tr = h("tr", { "data-testid": "user-row", "data-user-id": account.id, "data-username": account.username });
    const fill = (current: AdminUser) => {
      tr.dataset.status = current.status;
      tr.dataset.role = current.role;
      const hadFocus = tr.contains(document.activeElement);
      tr.replaceChildren(
        h(
          "td",
          {},
          h("strong", {}, current.display_name),
          self ? h("span", { class: "badge" }, t("admin.users.you")) : null,
          h("small", { class: "detail" }, `@${current.username} · ${current.email}`),
        ),
        h("td", {}, roleSelect(current, fill)),
        h(
          "td",
          { "data-testid": "user-status" },
          h("span", { class: `badge ${current.status}` }, t(`admin.users.state.${current.status}`)),
          current.ban_reason ? h("small", { class: "detail" }, t("admin.users.ban_reason", { reason: current.ban_reason })) : null,
        ),
        h(
          "td",
          {},
          formatDateTime(current.created_at),
          h("small", { class: "detail" }, current.last_login_at ? t("admin.users.last_login", { when: formatDateTime(current.last_login_at) }) : t("admin.users.never_signed_in")),
        ),
        h("td", { class: "actions" }, ...(self ? [] : actions(current, fill))),
      );
      // The row is redrawn after a change: keep keyboard focus in it rather than lose it.
      if (hadFocus) tr.querySelector<HTMLElement>(".actions button, select")?.focus();
    };
    fill(account);
    return tr;
  }

  function roleSelect(account: AdminUser, fill: (user: AdminUser) => void): HTMLSelectElement {
    const select = h(
      "select",
      { "aria-label": t("admin.users.role_of", { name: account.display_name }), "data-testid": "user-role" },
      ...(["user", "admin"] as const).map((role) => h("option", { value: role, selected: role === account.role }, t(`admin.users.role.${role}`))),
    );
    select.addEventListener("change", async () => {
      const role = select.value as User["role"];
      const confirmed = await ask({
        title: t("admin.users.role_title"),
        message: t(`admin.users.role_confirm.${role}`, { name: account.display_name }),
        confirm: t("admin.users.role_button"),
      });
      if (confirmed === null) {
        select.value = account.role;
        return;
      }
      select.disabled = true;
      try {
        const changed = await setRole(account.id, role);
        fill(changed);
        done(t(`admin.users.role_changed.${changed.role}`, { name: changed.display_name }));
      } catch (exc) {
        select.value = account.role;
        select.disabled = false;
        fail(exc);
      }
    });
    return select;
  }

  function actions(account: AdminUser, fill: (user: AdminUser) => void): HTMLElement[] {
    const named = { name: account.display_name };
    const buttons: HTMLElement[] = [];
    if (account.status === "banned") {
      const unban = h("button", { type: "button", "data-testid": "user-unban", "aria-label": t("admin.users.unban_named", named) }, t("admin.users.unban"));
      unban.addEventListener("click", async () => {
        unban.disabled = true;
        try {
          fill(await unbanUser(account.id));
          done(t("admin.users.unbanned", named));
        } catch (exc) {
          unban.disabled = false;
          fail(exc);
        }
      });
      buttons.push(unban);
    } else {
      const ban = h("button", { type: "button", class: "danger", "data-testid": "user-ban", "aria-label": t("admin.users.ban_named", named) }, t("admin.users.ban"));
      ban.addEventListener("click", async () => {
        const reason = await ask({
          title: t("admin.users.ban_title", named),
          message: t("admin.users.ban_confirm", named),
          confirm: t("admin.users.ban"),
          danger: true,
          input: { label: t("admin.users.ban_reason_label"), maxLength: 500 },
        });
        if (reason === null) return;
        ban.disabled = true;
        try {
          fill(await banUser(account.id, reason));
          done(t("admin.users.banned", named));
        } catch (exc) {
          ban.disabled = false;
          fail(exc);
        }
      });
      buttons.push(ban);
    }
    const remove = h("button", { type: "button", class: "danger", "data-testid": "user-delete", "aria-label": t("admin.users.delete_named", named) }, t("common.delete"));
    remove.addEventListener("click", async () => {
      const confirmed = await ask({
        title: t("admin.users.delete_title", named),
        message: t("admin.users.delete_confirm", named),
        confirm: t("common.delete"),
        danger: true,
      });
      if (confirmed === null) return;
      remove.disabled = true;
      try {
        await deleteUser(account.id);
        done(t("admin.users.deleted", named));
        await load();
      } catch (exc) {
        remove.disabled = false;
        fail(exc);
      }
    });
    buttons.push(remove);
    return buttons;
  }

  async function load(): Promise<void> {
    results.setAttribute("aria-busy", "true");
    try {
      const result = await listUsers(q, pageNumber, PAGE_SIZE, statusFilter);
      render(result);
    } catch (exc) {
      results.setAttribute("aria-busy", "false");
      results.replaceChildren();
      fail(exc);
    }
  }

  root.replaceChildren(
    h(
      "section",
      { class: "page admin-page", "data-testid": "admin-users" },
      adminTabs("/admin/users"),
      h("h1", {}, t("admin.users.title")),
      form,
      notice,
      error,
      results,
    ),
  );
  await load();
};
export default page;
