// Emotion cues: the latest facial-expression cue per person (gone when none came for a few
// seconds), and how cues read: an emoji and a translated word. No DOM and no timers: the caller
// passes the time and asks when the next cue goes.

import type { TextEmotion } from "../api/ai";
import { t } from "../i18n";
import type { FaceEmotion } from "./protocol";

export const EMOTION_MS = 5000;

const EMOJI: Record<FaceEmotion | TextEmotion["label"], string> = {
  angry: "😠",
  disgust: "🤢",
  fear: "😨",
  happy: "😄",
  sad: "😢",
  surprise: "😮",
  neutral: "😐",
  positive: "🙂",
  negative: "🙁",
};

export interface Cue {
  label: FaceEmotion;
  score: number;
}

export function emotionEmoji(label: string): string {
  return EMOJI[label as FaceEmotion] ?? "";
}

/** The label in the reader's language (the label itself when it is a new one). */
export function emotionName(label: string): string {
  const key = `ai.emotion.${label}`;
  const text = t(key);
  return text === key ? label : text;
}

/** "Expression: Happy (80 %)": a face's cue, or a caption's tone ("text"), as a badge's title
 * and accessible name. */
export function describeCue(kind: "face" | "text", label: string, score: number): string {
  const percent = Math.round(Math.max(0, Math.min(1, score)) * 100);
  return t(kind === "face" ? "ai.face_cue" : "ai.text_cue", { emotion: emotionName(label), percent });
}

export class EmotionBoard {
  private readonly cues = new Map<string, Cue & { until: number }>();

  constructor(private readonly lifetimeMs = EMOTION_MS) {}

  /** A cue for `userId` arrived at `now` (milliseconds). */
  set(userId: string, cue: Cue, now: number): void {
    this.cues.set(userId, { ...cue, until: now + this.lifetimeMs });
  }

  /** Their latest cue, unless it is older than the lifetime. */
  get(userId: string, now: number): Cue | null {
    const cue = this.cues.get(userId);
    if (!cue) return null;
    if (cue.until <= now) {
      this.cues.delete(userId);
      return null;
    }
    return { label: cue.label, score: cue.score };
  }

  delete(userId: string): void {
    this.cues.delete(userId);
  }

  clear(): void {
    this.cues.clear();
  }

  /** When the next cue still shown at `now` goes (null when there is none). */
  nextExpiry(now: number): number | null {
    let next: number | null = null;
    for (const [userId, cue] of this.cues) {
      if (cue.until <= now) this.cues.delete(userId); // gone already (nobody asked for it)
      else if (next === null || cue.until < next) next = cue.until;
    }
    return next;
  }
}
