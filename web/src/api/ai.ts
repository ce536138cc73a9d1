// The AI features over REST: a meeting's transcript (to read, search and download) and speech
// synthesis (chat read aloud). Live captions, emotion cues and announcements come over the
// signaling socket (room/session.ts).

import { get, getBlob, postBlob, query } from "./http";

/** The sentiment of a caption's text. */
export interface TextEmotion {
  label: "positive" | "neutral" | "negative";
  score: number;
}

/** One finished caption line, live (`caption` frames) or from the transcript. */
export interface TranscriptLine {
  id: string;
  user_id: string;
  display_name: string;
  text: string;
  started_at: string;
  ended_at: string;
  language: string;
  emotion: TextEmotion | null;
}

export interface Transcript {
  meeting_id: string;
  /** Oldest first. */
  lines: TranscriptLine[];
}

export type TranscriptFormat = "text" | "vtt";

export const TRANSCRIPT_TYPES: Record<TranscriptFormat, string> = { text: "text/plain", vtt: "text/vtt" };

/** The synthesizer reads at most this many characters at a time. */
export const SYNTHESIS_MAX_CHARS = 2000;

const path = (id: string) => `/meetings/${encodeURIComponent(id)}/transcript`;

/** The meeting's caption lines so far; `q` keeps those that contain its words. */
export function transcript(meetingId: string, q = "", signal?: AbortSignal): Promise<Transcript> {
  return get<Transcript>(`${path(meetingId)}${query({ format: "json", q: q.trim() })}`, signal);
}

/** The whole transcript as a file: plain text or WebVTT subtitles. */
export function transcriptFile(meetingId: string, format: TranscriptFormat): Promise<Blob> {
  return getBlob(`${path(meetingId)}${query({ format })}`, TRANSCRIPT_TYPES[format]);
}

/** `text` spoken by the speech synthesizer, as WAV bytes; `speed` 0.5 (slow) to 2 (fast). */
export function synthesize(text: string, speed?: number, signal?: AbortSignal): Promise<Blob> {
  const body = speed === undefined ? { text } : { text, speed };
  return postBlob("/ai/synthesis", body, "audio/wav", signal);
}
