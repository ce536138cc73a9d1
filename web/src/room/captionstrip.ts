// The caption strip at the bottom of the stage: the latest lines (speaker and text), each fading
// a few seconds after it arrived (CaptionBuffer decides which). A polite live region: lines are
// inserted, never redrawn, so that each is read once.

import type { TranscriptLine } from "../api/ai";
import { t } from "../i18n";
import { h } from "../ui/dom";
import { CaptionBuffer } from "./captions";
import { describeCue, emotionEmoji } from "./emotion";

/** A caption's tone as a small marker (nothing without one). */
export function toneMarker(line: TranscriptLine): HTMLElement | null {
  if (!line.emotion) return null;
  const text = describeCue("text", line.emotion.label, line.emotion.score);
  return h(
    "span",
    { class: "tone", "data-testid": "caption-tone", "data-tone": line.emotion.label, title: text, role: "img", "aria-label": text },
    emotionEmoji(line.emotion.label),
  );
}

export class CaptionStrip {
  readonly element: HTMLElement;
  private readonly buffer = new CaptionBuffer();
  private readonly items = new Map<string, HTMLElement>();
  private timer: number | undefined;

  constructor() {
    this.element = h("div", {
      class: "captions",
      "aria-live": "polite",
      "aria-label": t("ai.captions_live"),
      "data-testid": "captions",
      hidden: true,
    });
  }

  setVisible(visible: boolean): void {
    this.element.hidden = !visible;
  }

  add(line: TranscriptLine): void {
    this.buffer.add(line, Date.now());
    this.draw();
  }

  clear(): void {
    window.clearTimeout(this.timer);
    this.buffer.clear();
    this.draw();
  }

  private draw(): void {
    const visible = this.buffer.visible(Date.now());
    const wanted = new Set(visible.map((line) => line.id));
    for (const [id, item] of this.items) {
      if (!wanted.has(id)) {
        item.remove();
        this.items.delete(id);
      }
    }
    for (const line of visible) {
      if (this.items.has(line.id)) continue;
      const item = h(
        "p",
        { class: "caption", "data-testid": "caption-line", "data-user-id": line.user_id },
        h("strong", {}, line.display_name),
        " ",
        h("span", { class: "text" }, line.text),
        toneMarker(line), // hidden by the stylesheet while emotion cues are off
      );
      this.items.set(line.id, item);
      this.element.append(item); // newest last, in arrival order
    }
    window.clearTimeout(this.timer);
    const next = this.buffer.nextExpiry();
    if (next !== null) this.timer = window.setTimeout(() => this.draw(), Math.max(0, next - Date.now()) + 20);
  }
}
