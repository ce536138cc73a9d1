// `/signup`: a new account (username, email, optional display name, password twice with the
// server's rules shown), then signed in at once and on to `next`. The account keeps the language
// the page was shown in.

import { login, register, updateProfile } from "../api/account";
import { ApiError } from "../api/http";
import { addHint, field, passwordRulesList, showErrors, translated } from "../account/form";
import { checkSignUp, fieldErrors } from "../account/rules";
import { navigate, safeNext, type Page } from "../app/router";
import { getState, signedIn, update } from "../app/store";
import { t } from "../i18n";
import { h } from "../ui/dom";

const page: Page = (root, { query }) => {
  const username = field("signup", "username", t("signup.username"), { autocomplete: "username", required: true, maxlength: 32 }, t("signup.username_hint"));
  const email = field("signup", "email", t("signup.email"), { type: "email", autocomplete: "email", required: true, maxlength: 254 });
  const displayName = field("signup", "display_name", t("signup.display_name"), { autocomplete: "name", maxlength: 64 }, t("signup.display_name_hint"));
  const password = field("signup", "password", t("signup.password"), { type: "password", autocomplete: "new-password", required: true });
  const confirm = field("signup", "confirm", t("account.confirm_password"), { type: "password", autocomplete: "new-password", required: true });
  addHint(password, passwordRulesList(password.input, () => ({ username: username.input.value, email: email.input.value })));
  const fields = [username, email, displayName, password, confirm];

  const error = h("p", { class: "alert", role: "alert", "data-testid": "signup-error", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "signup-submit" }, t("signup.submit"));
  const next = query.get("next");
  const signInLink = next ? `/signin?next=${encodeURIComponent(next)}` : "/signin";
  const form = h(
    "form",
    { class: "card", "data-testid": "signup-form", "aria-labelledby": "signup-title", novalidate: true },
    h("h1", { id: "signup-title" }, t("signup.title")),
    ...fields.map((item) => item.element),
    error,
    submit,
    h("p", {}, t("signup.have_account"), " ", h("a", { href: signInLink, "data-testid": "signin-link" }, t("signup.signin"))),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const values = {
      username: username.input.value.trim(),
      email: email.input.value.trim(),
      display_name: displayName.input.value.trim(),
      password: password.input.value,
      confirm: confirm.input.value,
    };
    const problems = translated(checkSignUp(values));
    showErrors(fields, problems);
    if (Object.keys(problems).length) return;
    submit.disabled = true;
    try {
      await register({
        username: values.username,
        email: values.email,
        password: values.password,
        ...(values.display_name ? { display_name: values.display_name } : {}),
      });
    } catch (exc) {
      submit.disabled = false;
      const rest = exc instanceof ApiError ? showErrors(fields, fieldErrors(exc)) : [String((exc as Error).message)];
      error.textContent = rest.join(" ");
      error.hidden = rest.length === 0;
      return;
    }
    try {
      let user = await login(values.username, values.password);
      // New accounts start in English; keep the language this person is reading.
      if (user.locale !== getState().locale) user = await updateProfile({ locale: getState().locale }).catch(() => user);
      signedIn(user);
      navigate(safeNext(query), { replace: true });
    } catch {
      // The account exists: let them sign in by hand rather than sign up twice.
      update({ flash: { level: "info", text: t("signup.created_sign_in") } });
      navigate(signInLink, { replace: true });
    }
  });
  root.replaceChildren(form);
  username.input.focus();
};
export default page;
