// Transcript state that needs no DOM: merging the lines loaded over REST with the live ones,
// the search filter applied to live lines, and the names of downloaded files.

import type { TranscriptFormat, TranscriptLine } from "../api/ai";
import type { CaptionFrame } from "./protocol";

/** A live caption frame as a transcript line. */
export function lineOf(frame: CaptionFrame): TranscriptLine {
  const { type: _type, ...line } = frame;
  return line;
}

/** Lines from both sources, each once (by id; the later copy wins), oldest first. */
export function mergeTranscript(current: readonly TranscriptLine[], more: readonly TranscriptLine[]): TranscriptLine[] {
  const byId = new Map<string, TranscriptLine>();
  for (const line of [...current, ...more]) byId.set(line.id, line);
  return [...byId.values()].sort(
    (a, b) => Date.parse(a.started_at) - Date.parse(b.started_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** The words of a search (what `?q=` filters by), lower case. */
export function searchWords(q: string): string[] {
  return q.toLowerCase().split(/\s+/).filter(Boolean);
}

/** Whether a line contains every word of the search (as the server filters): live lines that
 * arrive while a search is shown are kept only when they match it. */
export function matchesSearch(line: TranscriptLine, q: string): boolean {
  const text = line.text.toLowerCase();
  return searchWords(q).every((word) => text.includes(word));
}

const EXTENSIONS: Record<TranscriptFormat, string> = { text: "txt", vtt: "vtt" };
const UNSAFE = /[\\/:*?"<>|\p{Cc}]+/gu;

/** `transcript-<title>.vtt`: the title with what file systems refuse taken out and spaces as
 * dashes, shortened to a sensible length. */
export function transcriptFileName(title: string, format: TranscriptFormat): string {
  const name = title
    .replace(UNSAFE, " ")
    .trim()
    .replace(/\s+/g, "-")
    .replace(/^[.-]+|[.-]+$/g, "");
  const short = [...name].slice(0, 80).join("").replace(/[.-]+$/, "");
  return `transcript-${short || "meeting"}.${EXTENSIONS[format]}`;
}
