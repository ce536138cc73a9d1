// Labelled form fields with an error line each, and the password-rules list. Errors are tied to
// their input with aria-describedby and aria-invalid, so screen readers announce them with it.

import { t } from "../i18n";
import { h, setAttr } from "../ui/dom";
import { passwordRules, PASSWORD_MAX, PASSWORD_MIN, PASSWORD_MIN_DISTINCT, type PasswordRule } from "./rules";

type InputAttributes = Record<string, string | boolean | number | null | undefined>;

export interface Field {
  name: string;
  input: HTMLInputElement;
  error: HTMLElement;
  element: HTMLElement;
}

/** A label, an input and its error line; `hint` is a short description under the input. */
export function field(
  formId: string,
  name: string,
  label: string,
  attributes: InputAttributes = {},
  hint: string | null = null,
): Field {
  const id = `${formId}-${name}`;
  const input = h("input", { id, name, "data-testid": id, "aria-describedby": `${id}-error`, ...attributes });
  const error = h("p", { id: `${id}-error`, class: "field-error", "data-testid": `${id}-error`, hidden: true });
  const target = { name, input, error, element: h("div", { class: "field" }, h("label", { for: id }, label), input, error) };
  if (hint) addHint(target, h("p", { class: "hint" }, hint));
  return target;
}

function setFieldError(target: Field, message: string | null): void {
  target.error.textContent = message ?? "";
  target.error.hidden = !message;
  setAttr(target.input, "aria-invalid", message ? "true" : null);
}

/**
 * Shows `errors` (field name → message) on `fields`, clears the others, and puts the focus on the
 * first field in error. Returns the messages that belong to no field (for the form's alert).
 */
export function showErrors(fields: Field[], errors: Record<string, string>): string[] {
  let first: Field | null = null;
  for (const item of fields) {
    const message = errors[item.name] ?? null;
    setFieldError(item, message);
    if (message && !first) first = item;
  }
  first?.input.focus();
  const known = new Set(fields.map((item) => item.name));
  return Object.entries(errors)
    .filter(([name]) => !known.has(name))
    .map(([, message]) => message);
}

/** Adds `node` under the field's input, and to what describes the input. */
export function addHint(target: Field, node: HTMLElement): void {
  node.id ||= `${target.input.id}-hint`;
  target.input.after(node);
  target.input.setAttribute("aria-describedby", `${node.id} ${target.input.getAttribute("aria-describedby") ?? ""}`.trim());
}

/** Translates the message keys of `rules.ts` checks. */
export function translated(problems: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(problems).map(([name, key]) => [name, t(key)]));
}

const RULE_TEXT: Record<PasswordRule, () => string> = {
  length: () => t("account.rule_length", { min: PASSWORD_MIN, max: PASSWORD_MAX }),
  distinct: () => t("account.rule_distinct", { count: PASSWORD_MIN_DISTINCT }),
  not_identity: () => t("account.rule_not_identity"),
};

/**
 * The server's password rules as a list under the password field, each marked as met or not
 * while the person types (`identity` gives the username and email to compare with).
 */
export function passwordRulesList(
  password: HTMLInputElement,
  identity: (() => { username?: string; email?: string }) | null,
): HTMLElement {
  const rules = Object.keys(RULE_TEXT) as PasswordRule[];
  // The tick is drawn by CSS; screen readers get the same news as words.
  const states = rules.map(() => h("span", { class: "sr-only" }));
  const items = rules.map((rule, index) => h("li", { "data-rule": rule, "data-met": "false" }, RULE_TEXT[rule](), " ", states[index]));
  const list = h("ul", { class: "rules", "data-testid": "password-rules" }, ...items);
  const refresh = () => {
    const met = passwordRules(password.value, identity?.() ?? {});
    rules.forEach((rule, index) => {
      // Without the account's names (a reset link) this one is only a reminder: the server checks.
      if (rule === "not_identity" && !identity) return;
      items[index]!.dataset.met = String(met[rule]);
      states[index]!.textContent = met[rule] ? t("account.rule_met") : t("account.rule_unmet");
    });
  };
  password.addEventListener("input", refresh);
  refresh();
  return h("div", {}, h("p", { class: "hint" }, t("account.rules_intro")), list);
}
