// Client-side routing: the gateway answers every unknown path with index.html and this maps
// the path to a page. Pages load on demand (each is its own chunk). Pages that need a signed-in
// user send everyone else to sign-in with `?next=` so that they come back afterwards.

import { currentUser } from "../api/account";
import { onSessionExpired } from "../api/http";
import { t } from "../i18n";
import { getState, signedIn, update } from "./store";

export interface PageContext {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Set when the route needs a user (the router has checked). */
  user: NonNullable<ReturnType<typeof getState>["user"]>;
}

/** Renders into `root`; may return a cleanup that runs when the page is left. */
export type Page = (root: HTMLElement, ctx: PageContext) => void | (() => void) | Promise<void | (() => void)>;

export interface Route {
  path: string; // "/meetings/:id"
  load: () => Promise<{ default: Page }>;
  access: "user" | "admin" | "guest" | "anyone";
  /** Full-screen pages (the room) get no navigation bar. */
  chrome?: boolean;
}

type Render = (page: Page, ctx: PageContext, route: Route) => Promise<void>;

let routes: Route[] = [];
let render: Render = async () => undefined;

export function navigate(path: string, { replace = false } = {}): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void resolve();
}

function match(route: Route, path: string): Record<string, string> | null {
  const names: string[] = [];
  const pattern = route.path.replace(/:(\w+)/g, (_, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  const found = new RegExp(`^${pattern}/?$`).exec(path);
  if (!found) return null;
  return Object.fromEntries(names.map((name, index) => [name, decodeURIComponent(found[index + 1]!)]));
}

/** Where to send someone who must sign in first, so that they come back here. */
export function signInPath(next = location.pathname + location.search): string {
  return `/signin?next=${encodeURIComponent(next)}`;
}

/** A `next` parameter, only when it is a path on this site. */
export function safeNext(query: URLSearchParams, fallback = "/"): string {
  const next = query.get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}

let generation = 0;

async function resolve(): Promise<void> {
  const current = ++generation;
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  const route = routes.find((candidate) => match(candidate, path)) ?? routes.find((r) => r.path === "*")!;
  const params = match(route, path) ?? {};
  let user = getState().user;
  if (user === null && route.access !== "anyone") {
    user = await currentUser().catch(() => null);
    if (user) signedIn(user);
  }
  if (current !== generation) return; // navigated again meanwhile
  if ((route.access === "user" || route.access === "admin") && !user) {
    navigate(signInPath(), { replace: true });
    return;
  }
  if (route.access === "guest" && user) {
    navigate(safeNext(query), { replace: true });
    return;
  }
  if (route.access === "admin" && user?.role !== "admin") {
    update({ flash: { level: "error", text: t("error.forbidden") } });
    navigate("/", { replace: true });
    return;
  }
  const page = (await route.load()).default;
  if (current !== generation) return;
  await render(page, { params, query, user: user! }, route);
}

export function startRouter(table: Route[], renderer: Render): void {
  routes = table;
  render = renderer;
  window.addEventListener("popstate", () => void resolve());
  // Links inside the app navigate without reloading the page.
  document.addEventListener("click", (event) => {
    const anchor = (event.target as Element | null)?.closest?.("a");
    if (!anchor || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || anchor.target || anchor.hasAttribute("download")) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
    event.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  onSessionExpired(() => {
    if (!getState().user) return;
    update({ user: null, flash: { level: "error", text: t("common.session_expired") } });
    navigate(signInPath(), { replace: true });
  });
  void resolve();
}
