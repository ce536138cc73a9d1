// What the caption strip over the stage shows: the latest lines, one per speaker (a new line
// from someone replaces theirs), at most a few, each gone a few seconds after it arrived. No DOM
// and no timers: the caller passes the time and asks when the next line fades.

import type { TranscriptLine } from "../api/ai";

export const CAPTION_LINES = 3;
export const CAPTION_MS = 6000;

interface Shown {
  line: TranscriptLine;
  until: number;
}

export class CaptionBuffer {
  private shown: Shown[] = [];

  constructor(
    private readonly max = CAPTION_LINES,
    private readonly lifetimeMs = CAPTION_MS,
  ) {}

  /** A new line arrived at `now` (milliseconds): it goes last, replacing its speaker's. */
  add(line: TranscriptLine, now: number): void {
    this.shown = this.shown.filter((s) => s.line.user_id !== line.user_id && s.until > now);
    this.shown.push({ line, until: now + this.lifetimeMs });
    if (this.shown.length > this.max) this.shown = this.shown.slice(-this.max);
  }

  /** The lines still on screen at `now`, oldest first. */
  visible(now: number): TranscriptLine[] {
    this.shown = this.shown.filter((s) => s.until > now);
    return this.shown.map((s) => s.line);
  }

  /** When the next line fades (null when none is shown). */
  nextExpiry(): number | null {
    return this.shown.length ? Math.min(...this.shown.map((s) => s.until)) : null;
  }

  clear(): void {
    this.shown = [];
  }
}
