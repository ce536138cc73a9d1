// `/signin`: username or email and password, then on to `next`. Links to sign-up and to the
// password reset, both keeping `next`.

import { login } from "../api/account";
import { ApiError } from "../api/http";
import { navigate, safeNext, type Page } from "../app/router";
import { signedIn } from "../app/store";
import { t } from "../i18n";
import { h } from "../ui/dom";

const page: Page = (root, { query }) => {
  const loginInput = h("input", { id: "login", name: "login", autocomplete: "username", required: true, "data-testid": "signin-login" });
  const passwordInput = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "data-testid": "signin-password",
  });
  const error = h("p", { class: "alert", role: "alert", "data-testid": "signin-error", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "signin-submit" }, t("signin.submit"));
  const next = query.get("next");
  const withNext = (path: string) => (next ? `${path}?next=${encodeURIComponent(next)}` : path);
  const form = h(
    "form",
    { class: "card", "data-testid": "signin-form", "aria-label": t("signin.title") },
    h("h1", {}, t("signin.title")),
    next ? h("p", {}, t("signin.to_continue")) : null,
    h("label", { for: "login" }, t("signin.login")),
    loginInput,
    h("label", { for: "password" }, t("signin.password")),
    passwordInput,
    h("p", { class: "aside" }, h("a", { href: "/forgot-password", "data-testid": "forgot-link" }, t("signin.forgot"))),
    error,
    submit,
    h("p", {}, t("signin.no_account"), " ", h("a", { href: withNext("/signup"), "data-testid": "signup-link" }, t("signin.signup"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      signedIn(await login(loginInput.value.trim(), passwordInput.value));
      navigate(safeNext(query), { replace: true });
    } catch (exc) {
      error.textContent = exc instanceof Error ? exc.message : String(exc);
      error.hidden = false;
      submit.disabled = false;
      if (exc instanceof ApiError) passwordInput.select();
    }
  });
  root.replaceChildren(form);
  loginInput.focus();
};
export default page;
