// The "Recordings" section of the meeting page: each recording with its status, date, length and
// size; a player and downloads (the video, each person's tracks, the captions) once it is ready;
// Start and Stop for hosts and co-hosts while the meeting is live; Delete for the host. The list
// loads again by itself while a recording is unfinished, and redraws only what changed.

import {
  deleteRecording,
  listRecordings,
  recordingHref,
  recordingThumbnail,
  startRecording,
  stopRecording,
  type Recording,
} from "../api/recordings";
import type { Meeting } from "../api/meetings";
import { locale, t } from "../i18n";
import { ask } from "../ui/dialog";
import { h } from "../ui/dom";
import { formatBytes } from "../ui/format";
import { hasCaptions, recordingFacts, RecordingList, statusBadge, statusOf, trackLabel } from "./list";

export interface SectionRights {
  /** Start and stop: hosts and co-hosts. */
  manage: boolean;
  /** Delete: the host, or an administrator. */
  delete: boolean;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const aborted = (error: unknown) => error instanceof DOMException && error.name === "AbortError";

export class RecordingsSection {
  readonly element: HTMLElement;
  private readonly list = new RecordingList();
  private readonly items = new Map<string, HTMLElement>();
  private readonly entries: HTMLUListElement;
  private readonly empty: HTMLElement;
  private readonly loading: HTMLElement;
  private readonly problem: HTMLElement;
  private readonly refused: HTMLElement;
  private readonly retry: HTMLButtonElement;
  private readonly notice: HTMLElement;
  private readonly start: HTMLButtonElement;
  private timer: number | undefined;
  private request: AbortController | null = null;
  private loaded = false;
  private closed = false;

  constructor(
    private readonly meeting: Meeting,
    private readonly rights: SectionRights,
  ) {
    this.entries = h("ul", { class: "recordings", "data-testid": "recordings-list", hidden: true });
    this.empty = h("p", { class: "empty", "data-testid": "recordings-empty", hidden: true }, t("recordings.empty"));
    this.loading = h("p", { role: "status" }, t("recordings.loading"));
    this.retry = h("button", { type: "button", "data-testid": "recordings-retry" }, t("recordings.retry"));
    this.problem = h(
      "div",
      { class: "alert", role: "alert", "data-testid": "recordings-error", hidden: true },
      h("span", {}),
      this.retry,
    );
    this.refused = h("p", { class: "alert", role: "alert", "data-testid": "recordings-action-error", hidden: true });
    this.notice = h("p", { class: "info", role: "status", "data-testid": "recordings-notice", hidden: true });
    this.start = h("button", { type: "button", class: "primary", "data-testid": "recording-start", hidden: true }, t("recordings.start"));
    this.element = h(
      "section",
      { class: "recordings-section", "aria-labelledby": "recordings-heading", "data-testid": "recordings" },
      h("div", { class: "section-head" }, h("h2", { id: "recordings-heading" }, t("recordings.title")), this.start),
      this.notice,
      this.refused,
      this.problem,
      h("div", { class: "recordings-body", "aria-busy": "true" }, this.loading, this.empty, this.entries),
    );
    this.retry.addEventListener("click", () => void this.load());
    this.start.addEventListener("click", () => void this.act(this.start, () => startRecording(meeting.id), "recordings.recording_started"));
  }

  /** Load the list (and again later, while one is unfinished). */
  async load(): Promise<void> {
    window.clearTimeout(this.timer);
    this.request?.abort();
    const request = (this.request = new AbortController());
    const body = this.entries.parentElement!;
    body.setAttribute("aria-busy", "true");
    let failed = false;
    try {
      const recordings = await listRecordings(this.meeting.id, request.signal);
      if (this.closed || request.signal.aborted) return;
      this.problem.hidden = true;
      this.apply(recordings);
    } catch (error) {
      if (this.closed || aborted(error)) return;
      failed = true;
      this.problem.querySelector("span")!.textContent = t("recordings.failed_to_load", { detail: messageOf(error) });
      this.problem.hidden = false;
    } finally {
      if (this.request === request) {
        this.request = null;
        body.setAttribute("aria-busy", "false");
        if (this.loaded || failed) this.loading.hidden = true;
        // Unfinished ones are looked at again, after a failure too (it may have been a blip).
        const delay = this.list.pollDelay();
        if (!this.closed && delay !== null) this.timer = window.setTimeout(() => void this.load(), delay);
      }
    }
  }

  /** The page is left: no more loading. */
  destroy(): void {
    this.closed = true;
    window.clearTimeout(this.timer);
    this.request?.abort();
  }

  /** The server refused a start, a stop or a delete. */
  private refuse(error: unknown): void {
    this.refused.textContent = messageOf(error);
    this.refused.hidden = false;
  }

  private say(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = false;
  }

  private apply(recordings: Recording[]): void {
    this.loaded = true;
    this.loading.hidden = true;
    const merge = this.list.merge(recordings);
    for (const id of merge.removed) {
      this.items.get(id)?.remove();
      this.items.delete(id);
    }
    for (const id of merge.changed) {
      const fresh = this.item(this.list.get(id)!);
      this.items.get(id)?.replaceWith(fresh);
      this.items.set(id, fresh);
    }
    // Put them in order, moving only those out of place (a video being watched stays put).
    let cursor = this.entries.firstElementChild;
    for (const id of merge.order) {
      const item = this.items.get(id)!;
      if (item === cursor) cursor = cursor.nextElementSibling;
      else this.entries.insertBefore(item, cursor);
    }
    for (const recording of merge.finished) {
      const time = recordingFacts(recording, locale()).date;
      this.say(t(statusOf(recording) === "ready" ? "recordings.now_ready" : "recordings.now_failed", { time }));
    }
    this.renderEmpty();
  }

  private renderEmpty(): void {
    const none = this.items.size === 0;
    this.empty.hidden = !none;
    this.entries.hidden = none;
    const live = this.meeting.status === "live" && this.meeting.settings.recording;
    const running = this.list.items.some((recording) => statusOf(recording) === "recording");
    this.start.hidden = !(this.rights.manage && live && !running);
  }

  /** One recording's item. */
  private item(recording: Recording): HTMLElement {
    const status = statusOf(recording);
    const facts = recordingFacts(recording, locale());
    const badge = statusBadge(status);
    const details = h(
      "p",
      { class: "recording-facts" },
      h("span", { class: badge.className, "data-testid": "recording-status" }, badge.label),
      " ",
      h("time", { datetime: recording.started_at, "data-testid": "recording-date" }, t("recordings.started", { time: facts.date })),
      facts.duration ? h("span", { "data-testid": "recording-duration" }, t("recordings.duration", { duration: facts.duration })) : null,
      facts.size ? h("span", { "data-testid": "recording-size" }, t("recordings.size", { size: facts.size })) : null,
    );
    const item = h("li", { class: "recording", "data-testid": "recording", "data-id": recording.id, "data-status": status }, details);
    const actions = h("div", { class: "recording-actions" });
    if (status === "ready") item.append(...this.ready(recording, facts.date));
    if (status === "processing") item.append(h("p", { class: "hint" }, t("recordings.processing_hint")));
    if (status === "recording") {
      item.append(h("p", { class: "hint" }, t("recordings.in_progress")));
      if (this.rights.manage) {
        const stop = h("button", { type: "button", class: "danger", "data-testid": "recording-stop" }, t("recordings.stop"));
        stop.addEventListener("click", () =>
          void this.act(stop, () => stopRecording(this.meeting.id, recording.id), "recordings.recording_stopped"),
        );
        actions.append(stop);
      }
    }
    if (status === "failed") {
      item.append(
        h(
          "p",
          { class: "detail failure", "data-testid": "recording-error" },
          t("recordings.failed_hint", { error: recording.error || t("recordings.failed_unknown") }),
        ),
      );
    }
    if (this.rights.delete && status !== "recording") {
      const remove = h(
        "button",
        { type: "button", class: "danger", "data-testid": "recording-delete", "aria-label": t("recordings.delete_named", { time: facts.date }) },
        t("common.delete"),
      );
      remove.addEventListener("click", () => void this.remove(recording, facts.date, remove));
      actions.append(remove);
    }
    if (actions.childElementCount > 0) item.append(actions);
    return item;
  }

  /** The player and the downloads of a ready recording. */
  private ready(recording: Recording, time: string): HTMLElement[] {
    const { id: meetingId } = this.meeting;
    const player = h("video", {
      controls: true,
      preload: "metadata",
      playsinline: true,
      src: recordingHref(meetingId, recording.id),
      poster: recording.has_thumbnail ? recordingThumbnail(meetingId, recording.id) : null,
      "aria-label": t("recordings.player", { time }),
      "data-testid": "recording-player",
    });
    const links = h(
      "p",
      { class: "recording-links" },
      h(
        "a",
        {
          href: recordingHref(meetingId, recording.id),
          download: "",
          class: "button",
          "aria-label": t("recordings.download_named", { time }),
          "data-testid": "recording-download",
        },
        t("recordings.download"),
      ),
    );
    if (hasCaptions(recording, this.meeting.settings.ai)) {
      links.append(
        h(
          "a",
          {
            href: recordingHref(meetingId, recording.id, { captions: true }),
            download: "",
            class: "button",
            "aria-label": t("recordings.captions_named", { time }),
            "data-testid": "recording-captions",
          },
          t("recordings.captions"),
        ),
      );
    }
    const parts: HTMLElement[] = [player, links];
    if (recording.tracks.length > 0) {
      parts.push(
        h(
          "details",
          { class: "recording-tracks" },
          h("summary", {}, t("recordings.tracks", { count: recording.tracks.length })),
          h(
            "ul",
            {},
            ...recording.tracks.map((track) =>
              h(
                "li",
                {},
                h(
                  "a",
                  { href: recordingHref(meetingId, recording.id, { track: track.track_id }), download: "", "data-testid": "recording-track" },
                  trackLabel(track),
                ),
                track.size_bytes === null ? null : h("small", { class: "detail" }, formatBytes(track.size_bytes, locale())),
              ),
            ),
          ),
        ),
      );
    }
    return parts;
  }

  /** Start or stop (from this page), then show the list as it is now. */
  private async act(button: HTMLButtonElement, run: () => Promise<unknown>, done: string): Promise<void> {
    button.disabled = true;
    this.refused.hidden = true;
    try {
      await run();
      this.say(t(done));
    } catch (error) {
      this.refuse(error);
    } finally {
      button.disabled = false;
    }
    await this.load();
  }

  private async remove(recording: Recording, time: string, button: HTMLButtonElement): Promise<void> {
    const confirmed = await ask({
      title: t("recordings.delete_title"),
      message: t("recordings.delete_confirm", { time }),
      confirm: t("common.delete"),
      danger: true,
    });
    if (confirmed === null) return;
    button.disabled = true;
    this.refused.hidden = true;
    try {
      await deleteRecording(this.meeting.id, recording.id);
    } catch (error) {
      button.disabled = false;
      this.refuse(error);
      return;
    }
    this.list.remove(recording.id);
    this.items.get(recording.id)?.remove();
    this.items.delete(recording.id);
    this.renderEmpty();
    this.say(t("recordings.deleted", { time }));
    this.element.querySelector<HTMLElement>("h2")?.setAttribute("tabindex", "-1");
    this.element.querySelector<HTMLElement>("h2")?.focus(); // the button that had focus is gone
  }
}
