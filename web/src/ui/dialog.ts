// A modal question (`<dialog>`): "Delete this file?", optionally with one text field (a reason).
// Escape or Cancel answers null; focus starts on Cancel for destructive questions and returns
// to where it was afterwards.

import { t } from "../i18n";
import { h } from "./dom";

export interface Question {
  title: string;
  message: string;
  confirm: string;
  /** Destructive: the confirm button is red and focus starts on Cancel. */
  danger?: boolean;
  /** One optional text field, e.g. a reason. */
  input?: { label: string; maxLength?: number };
}

let opened = 0;

/** The text of the field ("" without one) when confirmed, null when cancelled. */
export function ask(question: Question): Promise<string | null> {
  const id = `dialog-${++opened}`;
  const returnTo = document.activeElement as HTMLElement | null;
  const input = question.input
    ? h("input", { id: `${id}-input`, maxlength: question.input.maxLength ?? null, "data-testid": "dialog-input" })
    : null;
  const cancel = h("button", { type: "button", "data-testid": "dialog-cancel" }, t("common.cancel"));
  const confirm = h(
    "button",
    { type: "submit", class: question.danger ? "danger" : "primary", "data-testid": "dialog-confirm" },
    question.confirm,
  );
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: `${id}-title` }, question.title),
    h("p", { id: `${id}-message` }, question.message),
    input ? h("label", { for: input.id }, question.input!.label) : null,
    input,
    h("div", { class: "dialog-actions" }, cancel, confirm),
  );
  const dialog = h(
    "dialog",
    { class: "dialog", "aria-labelledby": `${id}-title`, "aria-describedby": `${id}-message`, "data-testid": "dialog" },
    form,
  );
  return new Promise((resolve) => {
    let answer: string | null = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      answer = input?.value.trim() ?? "";
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      returnTo?.focus?.();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (input ?? (question.danger ? cancel : confirm)).focus();
  });
}
