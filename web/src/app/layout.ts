// The frame around every page but the room: a skip link, the navigation, the language switch,
// and the flash message. Keyboard users reach everything with Tab; the current page is marked
// with aria-current.

import { chooseLocale, signOut } from "../account/session";
import { LOCALE_NAMES, LOCALES, t, type Locale } from "../i18n";
import { h } from "../ui/dom";
import { navigate } from "./router";
import { getState, takeFlash, update } from "./store";

export function frame(withChrome: boolean): HTMLElement {
  const main = h("main", { id: "content", tabindex: "-1", "data-testid": "page" });
  const flash = takeFlash();
  const notice = flash
    ? h("p", { class: flash.level === "error" ? "alert" : "info", role: flash.level === "error" ? "alert" : "status", "data-testid": "flash" }, flash.text)
    : null;
  const body: Node[] = [];
  if (withChrome) {
    body.push(h("a", { class: "skip", href: "#content" }, t("nav.skip")), header());
  }
  if (notice) body.push(notice);
  body.push(main);
  document.getElementById("app")!.replaceChildren(...body);
  return main;
}

function header(): HTMLElement {
  const { user } = getState();
  const link = (href: string, label: string, testid: string) =>
    h("a", { href, "data-testid": testid, "aria-current": location.pathname === href ? "page" : null }, label);
  const language = h(
    "select",
    { id: "language", "aria-label": t("nav.language"), "data-testid": "language" },
    ...LOCALES.map((code) => h("option", { value: code, selected: code === getState().locale }, LOCALE_NAMES[code])),
  );
  language.addEventListener("change", async () => {
    language.disabled = true;
    try {
      await chooseLocale(language.value as Locale);
    } catch (exc) {
      update({ flash: { level: "error", text: exc instanceof Error ? exc.message : String(exc) } });
    }
    navigate(location.pathname + location.search, { replace: true }); // re-render in the new language
  });
  const nav = h("nav", { "aria-label": t("app.name") }, h("a", { href: "/", class: "brand" }, t("app.name")));
  if (user) {
    nav.append(link("/", t("nav.meetings"), "nav-meetings"), link("/media", t("nav.media"), "nav-media"));
    if (user.role === "admin") nav.append(link("/admin/users", t("nav.admin"), "nav-admin"));
    nav.append(link("/profile", t("nav.profile"), "nav-profile"));
    const signOutButton = h("button", { type: "button", class: "link", "data-testid": "signout" }, t("nav.signout"));
    signOutButton.addEventListener("click", () => void signOut());
    nav.append(signOutButton);
  }
  nav.append(language);
  return h("header", { class: "top" }, nav);
}
