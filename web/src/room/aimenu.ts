// The AI options of the room (a popover over the controls): emotion cues and chat read aloud,
// each a switch this browser remembers.

import { t } from "../i18n";
import { h } from "../ui/dom";

export interface AiSwitches {
  emotionCues(on: boolean): void;
  readAloud(on: boolean): void;
}

/** A labelled switch (a checkbox announced as a switch) with a hint under it. */
function switchField(id: string, label: string, hint: string, checked: boolean): [HTMLElement, HTMLInputElement] {
  const input = h("input", {
    type: "checkbox",
    role: "switch",
    id,
    checked,
    "aria-describedby": `${id}-hint`,
    "data-testid": id,
  });
  const field = h(
    "div",
    { class: "switch" },
    input,
    h("label", { for: id }, label),
    h("p", { class: "hint", id: `${id}-hint` }, hint),
  );
  return [field, input];
}

export class AiMenu {
  readonly element: HTMLElement;
  private readonly emotionCues: HTMLInputElement;

  constructor(initial: { emotionCues: boolean; readAloud: boolean }, switches: AiSwitches) {
    const [cuesField, cues] = switchField("ai-emotion-cues", t("ai.emotion_cues"), t("ai.emotion_cues_hint"), initial.emotionCues);
    const [readField, read] = switchField("ai-read-aloud", t("ai.read_aloud"), t("ai.read_aloud_hint"), initial.readAloud);
    this.emotionCues = cues;
    this.element = h(
      "div",
      { class: "popover ai-menu", id: "room-ai", role: "group", "aria-label": t("ai.menu"), "data-testid": "ai-menu", hidden: true },
      cuesField,
      readField,
    );
    cues.addEventListener("change", () => switches.emotionCues(cues.checked));
    read.addEventListener("change", () => switches.readAloud(read.checked));
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  setOpen(open: boolean): void {
    this.element.hidden = !open;
  }

  focus(): void {
    this.emotionCues.focus();
  }
}
