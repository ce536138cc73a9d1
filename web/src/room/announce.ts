// The small form hosts and co-hosts send an announcement with (a popover over the controls).
// Everyone, the sender included, gets it back as an `announcement` frame (shown by the view).

import { t } from "../i18n";
import { h } from "../ui/dom";
import { ANNOUNCEMENT_MAX_CHARS } from "./protocol";

export class AnnounceForm {
  readonly element: HTMLFormElement;
  private readonly text: HTMLTextAreaElement;

  /** `send` answers whether the announcement went out (the form empties and closes then). */
  constructor(send: (text: string) => boolean, close: () => void) {
    this.text = h("textarea", {
      id: "announce-text",
      name: "text",
      rows: 3,
      required: true,
      maxlength: ANNOUNCEMENT_MAX_CHARS,
      "aria-describedby": "announce-hint",
      "data-testid": "announce-text",
    });
    const cancel = h("button", { type: "button", "data-testid": "announce-cancel" }, t("common.cancel"));
    this.element = h(
      "form",
      { class: "popover announce", id: "room-announce", "aria-label": t("ai.announce_action"), "data-testid": "announce-form", hidden: true },
      h("label", { for: "announce-text" }, t("ai.announce_label")),
      this.text,
      h("p", { class: "hint", id: "announce-hint" }, t("ai.announce_hint", { max: ANNOUNCEMENT_MAX_CHARS })),
      h(
        "div",
        { class: "dialog-actions" },
        cancel,
        h("button", { type: "submit", class: "primary", "data-testid": "announce-send" }, t("ai.announce_send")),
      ),
    );
    cancel.addEventListener("click", close);
    this.element.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!send(this.text.value)) return;
      this.text.value = "";
      close();
    });
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  setOpen(open: boolean): void {
    this.element.hidden = !open;
  }

  focus(): void {
    this.text.focus();
  }
}
