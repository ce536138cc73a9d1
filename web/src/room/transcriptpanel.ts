// The transcript panel: the meeting's caption lines so far (loaded when the panel opens) and the
// live ones as they arrive, a search (the API's `q`, typed words sent after a pause), and the
// whole transcript as a file (plain text or WebVTT subtitles).

import { transcript, transcriptFile, type TranscriptFormat, type TranscriptLine } from "../api/ai";
import { locale, t } from "../i18n";
import { h } from "../ui/dom";
import { saveBlob } from "../ui/download";
import { toneMarker } from "./captionstrip";
import type { RoomSession } from "./session";
import { matchesSearch, mergeTranscript, searchWords, transcriptFileName } from "./transcript";

const SEARCH_DELAY_MS = 300;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A time of day on the reader's clock, to the second. */
export function clockSeconds(iso: string): string {
  return new Intl.DateTimeFormat(locale(), { timeStyle: "medium" }).format(new Date(iso));
}

/** `text` with the searched words marked. */
function highlighted(text: string, q: string): (string | HTMLElement)[] {
  const words = searchWords(q).map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (words.length === 0) return [text];
  const parts = text.split(new RegExp(`(${words.join("|")})`, "gi"));
  return parts.map((part, index) => (index % 2 === 1 ? h("mark", {}, part) : part)).filter((part) => part !== "");
}

export class TranscriptPanel {
  readonly element: HTMLElement;
  private lines: TranscriptLine[] = [];
  private readonly items = new Map<string, { item: HTMLElement; q: string }>();
  private q = "";
  private loading: AbortController | null = null;
  private searchTimer: number | undefined;
  private readonly list: HTMLOListElement;
  private readonly search: HTMLInputElement;
  private readonly status: HTMLElement;
  private readonly problem: HTMLElement;
  private readonly downloads: HTMLButtonElement[];

  constructor(
    private readonly session: RoomSession,
    close: () => void,
  ) {
    this.search = h("input", {
      type: "search",
      id: "transcript-search",
      name: "q",
      autocomplete: "off",
      placeholder: t("ai.transcript_search_placeholder"),
      "data-testid": "transcript-search",
    });
    const searchForm = h(
      "form",
      { class: "transcript-search", role: "search" },
      h("label", { for: "transcript-search", class: "visually-hidden" }, t("ai.transcript_search")),
      this.search,
    );
    this.status = h("p", { class: "status", role: "status", "data-testid": "transcript-status" });
    this.problem = h("p", { class: "alert", role: "alert", "data-testid": "transcript-error", hidden: true });
    this.list = h("ol", {
      class: "transcript-list",
      "aria-label": t("ai.transcript_lines"),
      "data-testid": "transcript-lines",
      tabindex: 0,
    });
    this.downloads = (["text", "vtt"] as const).map((format) => {
      const button = h(
        "button",
        { type: "button", class: "link", "data-testid": `transcript-download-${format}` },
        t(format === "text" ? "ai.download_text" : "ai.download_vtt"),
      );
      button.addEventListener("click", () => void this.download(format));
      return button;
    });
    const closeButton = h("button", { type: "button", class: "close", "aria-label": t("ai.transcript_close") }, "×");
    closeButton.addEventListener("click", close);
    this.element = h(
      "aside",
      {
        class: "panel transcript",
        id: "room-transcript",
        "aria-labelledby": "room-transcript-title",
        "data-testid": "transcript-panel",
        hidden: true,
      },
      h("div", { class: "panel-head" }, h("h2", { id: "room-transcript-title" }, t("ai.transcript")), closeButton),
      searchForm,
      this.problem,
      this.status,
      this.list,
      h("div", { class: "transcript-downloads" }, ...this.downloads),
    );

    this.search.addEventListener("input", () => {
      window.clearTimeout(this.searchTimer);
      this.searchTimer = window.setTimeout(() => this.searchFor(this.search.value), SEARCH_DELAY_MS);
    });
    searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      window.clearTimeout(this.searchTimer);
      this.searchFor(this.search.value);
    });
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  setOpen(open: boolean): void {
    const opening = open && this.element.hidden;
    this.element.hidden = !open;
    if (opening) void this.load(); // what was said while it was closed, and before this client came
  }

  focus(): void {
    this.search.focus();
  }

  /** The session got live caption lines. */
  onCaptions(): void {
    const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.lines = mergeTranscript(this.lines, this.live());
    this.draw();
    if (atEnd) this.scrollToEnd();
  }

  private live(): TranscriptLine[] {
    return this.session.captions.filter((line) => matchesSearch(line, this.q));
  }

  private searchFor(value: string): void {
    const q = value.trim();
    if (q === this.q) return;
    this.q = q;
    void this.load();
  }

  private async load(): Promise<void> {
    this.loading?.abort(); // an answer to an older search would only be overwritten
    const abort = (this.loading = new AbortController());
    this.status.textContent = t("ai.transcript_loading");
    this.list.setAttribute("aria-busy", "true");
    try {
      const answer = await transcript(this.session.meetingId, this.q, abort.signal);
      if (abort.signal.aborted) return;
      this.lines = mergeTranscript(answer.lines, this.live());
      this.problem.hidden = true;
    } catch (error) {
      if (abort.signal.aborted) return;
      this.lines = mergeTranscript(this.lines.filter((line) => matchesSearch(line, this.q)), this.live());
      this.problem.textContent = t("ai.transcript_failed", { detail: messageOf(error) });
      this.problem.hidden = false;
    } finally {
      if (this.loading === abort) {
        this.loading = null;
        this.list.removeAttribute("aria-busy");
      }
    }
    this.draw();
    this.scrollToEnd();
  }

  private async download(format: TranscriptFormat): Promise<void> {
    for (const button of this.downloads) button.disabled = true;
    this.status.textContent = t("ai.downloading");
    try {
      const file = await transcriptFile(this.session.meetingId, format);
      saveBlob(file, transcriptFileName(this.session.meetingTitle, format));
      this.problem.hidden = true;
    } catch (error) {
      this.problem.textContent = t("ai.download_failed", { detail: messageOf(error) });
      this.problem.hidden = false;
    } finally {
      for (const button of this.downloads) button.disabled = false;
      this.describe();
    }
  }

  private describe(): void {
    if (this.loading) return;
    const count = this.lines.length;
    if (this.q) {
      this.status.textContent =
        count === 0 ? t("ai.transcript_no_match", { q: this.q }) : t("ai.transcript_found", { count });
    } else {
      this.status.textContent = count === 0 ? t("ai.transcript_empty") : "";
    }
  }

  private draw(): void {
    const wanted = new Set(this.lines.map((line) => line.id));
    for (const [id, entry] of this.items) {
      if (!wanted.has(id) || entry.q !== this.q) {
        entry.item.remove();
        this.items.delete(id);
      }
    }
    this.lines.forEach((line, index) => {
      let entry = this.items.get(line.id);
      if (!entry) {
        entry = { item: this.item(line), q: this.q };
        this.items.set(line.id, entry);
      }
      if (this.list.children[index] !== entry.item) this.list.insertBefore(entry.item, this.list.children[index] ?? null);
    });
    this.describe();
  }

  private item(line: TranscriptLine): HTMLElement {
    const mine = line.user_id === this.session.me?.user_id;
    return h(
      "li",
      { "data-testid": "transcript-line", "data-id": line.id, "data-user-id": line.user_id, class: mine ? "mine" : null },
      h("time", { datetime: line.started_at }, clockSeconds(line.started_at)),
      h("strong", {}, mine ? t("room.you") : line.display_name),
      " ",
      toneMarker(line),
      h("span", { class: "body", lang: line.language || null }, ...highlighted(line.text, this.q)),
    );
  }

  private scrollToEnd(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }
}
