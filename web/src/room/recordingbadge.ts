// The recording indicator in the room's header, for everyone: a red dot, "Recording" and the
// time since it started. A status: its words change only when recording starts or stops; the
// clock ticking beside them is left out of what screen readers hear (the room announces the
// start and the stop itself).

import { formatDateTime, t } from "../i18n";
import { h } from "../ui/dom";
import { elapsedSeconds, formatElapsed, NOT_RECORDING, type RecordingState } from "./recording";

export class RecordingIndicator {
  readonly element: HTMLElement;
  private readonly label: HTMLElement;
  private readonly clock: HTMLTimeElement;
  private state: RecordingState = NOT_RECORDING;
  private timer: number | undefined;

  constructor() {
    this.label = h("span", { class: "label" });
    this.clock = h("time", { class: "elapsed", "aria-hidden": "true", "data-testid": "recording-elapsed" });
    this.element = h(
      "span",
      { class: "recording-indicator", role: "status", "data-testid": "recording-indicator", hidden: true },
      h("span", { class: "dot", "aria-hidden": "true" }),
      this.label,
      this.clock,
    );
  }

  /** Show `state` (hidden when not recording); `startedBy` names who started it, when known. */
  show(state: RecordingState, startedBy: string | null): void {
    const changed = state.active !== this.state.active || state.recordingId !== this.state.recordingId;
    this.state = state;
    if (!state.active) {
      this.stop();
      this.element.hidden = true;
      this.label.textContent = "";
      this.clock.textContent = "";
      this.element.removeAttribute("title");
      return;
    }
    this.element.hidden = false;
    if (changed || !this.label.textContent) this.label.textContent = t("room.recording");
    if (state.startedAt) this.clock.dateTime = state.startedAt;
    const since = state.startedAt ? formatDateTime(state.startedAt) : null;
    this.element.title = since
      ? startedBy
        ? t("room.recording_since_by", { time: since, name: startedBy })
        : t("room.recording_since", { time: since })
      : "";
    this.tick();
    if (this.timer === undefined) this.timer = window.setInterval(() => this.tick(), 1000);
  }

  /** Stop the clock (the room is left). */
  destroy(): void {
    this.show(NOT_RECORDING, null);
  }

  private tick(): void {
    this.clock.textContent = formatElapsed(elapsedSeconds(this.state, Date.now()));
  }

  private stop(): void {
    window.clearInterval(this.timer);
    this.timer = undefined;
  }
}
