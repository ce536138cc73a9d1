// `/forgot-password`: asks for a reset link by email. The answer is the same whether or not an
// account uses that email (the server does not say, so neither does the page).

import { requestPasswordReset } from "../api/account";
import { field, showErrors, translated } from "../account/form";
import { checkEmail } from "../account/rules";
import type { Page } from "../app/router";
import { t } from "../i18n";
import { h } from "../ui/dom";

const page: Page = (root) => {
  const email = field("forgot", "email", t("forgot.email"), { type: "email", autocomplete: "email", required: true, maxlength: 254 });
  const error = h("p", { class: "alert", role: "alert", "data-testid": "forgot-error", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "forgot-submit" }, t("forgot.submit"));
  const back = () => h("p", {}, h("a", { href: "/signin", "data-testid": "back-to-signin" }, t("forgot.back")));
  const form = h(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "forgot-title", "data-testid": "forgot-form" },
    h("h1", { id: "forgot-title" }, t("forgot.title")),
    h("p", {}, t("forgot.intro")),
    email.element,
    error,
    submit,
    back(),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const problem = checkEmail(email.input.value);
    showErrors([email], translated(problem ? { email: problem } : {}));
    if (problem) return;
    submit.disabled = true;
    try {
      await requestPasswordReset(email.input.value.trim());
    } catch (exc) {
      // Only failures that have nothing to do with the account (rate limit, no server) show.
      submit.disabled = false;
      error.textContent = exc instanceof Error ? exc.message : String(exc);
      error.hidden = false;
      return;
    }
    const sent = h(
      "section",
      { class: "card", "aria-labelledby": "forgot-title", "data-testid": "forgot-sent" },
      h("h1", { id: "forgot-title", tabindex: "-1" }, t("forgot.title")),
      h("p", { role: "status" }, t("forgot.sent", { email: email.input.value.trim() })),
      h("p", { class: "hint" }, t("forgot.sent_hint")),
      back(),
    );
    root.replaceChildren(sent);
    sent.querySelector("h1")?.focus();
  });
  root.replaceChildren(form);
  email.input.focus();
};
export default page;
