// A modal confirmation for actions that cannot be undone (remove someone, end the meeting, hand
// the meeting over). A real <dialog>: focus stays inside, Escape cancels.

import { t } from "../i18n";
import { h } from "../ui/dom";

let counter = 0;

export function confirmAction(parent: HTMLElement, text: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const id = `confirm-text-${++counter}`;
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const ok = h("button", { type: "button", class: "danger", "data-testid": "confirm-ok" }, confirmLabel);
    const cancel = h("button", { type: "button", "data-testid": "confirm-cancel" }, t("common.cancel"));
    const dialog = h(
      "dialog",
      { class: "confirm", "data-testid": "confirm-dialog", "aria-labelledby": id },
      h("p", { id }, text),
      h("div", { class: "dialog-actions" }, cancel, ok),
    );
    const done = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      if (before?.isConnected) before.focus();
      resolve(answer);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    parent.append(dialog);
    dialog.showModal();
    cancel.focus(); // the safe choice is the default one
  });
}
