// `/reset-password?token=...`: the link of the reset mail. A new password twice; then sign-in,
// with a message. The server ends every session of the account, so this browser's too.

import { confirmPasswordReset } from "../api/account";
import { ApiError } from "../api/http";
import { addHint, field, passwordRulesList, showErrors, translated } from "../account/form";
import { checkNewPassword, fieldErrors } from "../account/rules";
import { navigate, type Page } from "../app/router";
import { update } from "../app/store";
import { t } from "../i18n";
import { h } from "../ui/dom";

function badLink(root: HTMLElement, text: string): void {
  root.replaceChildren(
    h(
      "section",
      { class: "card", "aria-labelledby": "reset-title" },
      h("h1", { id: "reset-title" }, t("reset.title")),
      h("p", { class: "alert", role: "alert", "data-testid": "reset-error" }, text),
      h("p", {}, h("a", { href: "/forgot-password", "data-testid": "reset-again" }, t("reset.ask_again"))),
    ),
  );
}

const page: Page = (root, { query }) => {
  const token = query.get("token") ?? "";
  if (token.length < 10) {
    badLink(root, t("reset.no_token"));
    return;
  }
  const password = field("reset", "password", t("account.new_password"), { type: "password", autocomplete: "new-password", required: true });
  const confirm = field("reset", "confirm", t("account.confirm_password"), { type: "password", autocomplete: "new-password", required: true });
  addHint(password, passwordRulesList(password.input, null));
  const fields = [password, confirm];
  const error = h("p", { class: "alert", role: "alert", "data-testid": "reset-error", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "reset-submit" }, t("reset.submit"));
  const form = h(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "reset-title", "data-testid": "reset-form" },
    h("h1", { id: "reset-title" }, t("reset.title")),
    h("p", {}, t("reset.intro")),
    ...fields.map((item) => item.element),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const problems = translated(checkNewPassword(password.input.value, confirm.input.value));
    showErrors(fields, problems);
    if (Object.keys(problems).length) return;
    submit.disabled = true;
    try {
      await confirmPasswordReset(token, password.input.value);
    } catch (exc) {
      submit.disabled = false;
      if (exc instanceof ApiError && exc.code === "invalid_reset_token") {
        badLink(root, exc.message);
        return;
      }
      const rest = exc instanceof ApiError ? showErrors(fields, fieldErrors(exc, { new_password: "password" })) : [(exc as Error).message];
      error.textContent = rest.join(" ");
      error.hidden = rest.length === 0;
      return;
    }
    // Every session of the account has ended, this browser's included.
    update({ user: null, flash: { level: "info", text: t("reset.done") } });
    navigate("/signin", { replace: true });
  });
  root.replaceChildren(form);
  password.input.focus();
};
export default page;
