// A meeting's recordings: list, start and stop (the same as the room's `start_recording` and
// `stop_recording` frames), delete, and the addresses of their files. The file addresses answer
// 307 to a short-lived signed URL, so that an `<a href>` or a `<video src>` pointing at the API
// path works with the session cookie (same origin) and the files never pass through a script.

import { del, get, post, query } from "./http";

export type RecordingStatus = "recording" | "processing" | "ready" | "failed";

export interface RecordingTrack {
  track_id: string;
  user_id: string;
  display_name: string;
  kind: "audio" | "video";
  source: "microphone" | "camera" | "screen";
  size_bytes: number | null;
}

export interface Recording {
  id: string;
  meeting_id: string;
  status: RecordingStatus;
  kind: string;
  content_type: string | null;
  size_bytes: number | null;
  duration_seconds: number | null;
  started_at: string;
  stopped_at: string | null;
  /** Why it failed (English, from the server). */
  error: string | null;
  has_thumbnail: boolean;
  /** Whether a WebVTT file of the captions goes with it (servers that do not say: unknown). */
  has_captions?: boolean;
  /** One file per person and source, besides the mixed video. */
  tracks: RecordingTrack[];
}

const path = (meetingId: string) => `/meetings/${encodeURIComponent(meetingId)}/recordings`;
const one = (meetingId: string, recordingId: string) => `${path(meetingId)}/${encodeURIComponent(recordingId)}`;

/** Newest first. */
export function listRecordings(meetingId: string, signal?: AbortSignal): Promise<Recording[]> {
  return get<Recording[]>(path(meetingId), signal);
}

/** Hosts and co-hosts, while the meeting is live and its `recording` setting is on. */
export function startRecording(meetingId: string): Promise<Recording> {
  return post<Recording>(path(meetingId));
}

export function stopRecording(meetingId: string, recordingId: string): Promise<Recording> {
  return post<Recording>(`${one(meetingId, recordingId)}/stop`);
}

/** The host (or an administrator). */
export function deleteRecording(meetingId: string, recordingId: string): Promise<void> {
  return del(one(meetingId, recordingId));
}

export type RecordingFile = { track: string } | { captions: true } | Record<string, never>;

/** The mixed MP4; `{ track }` one person's track (.mkv); `{ captions: true }` the WebVTT. */
export function recordingHref(meetingId: string, recordingId: string, file: RecordingFile = {}): string {
  const params = "track" in file ? { track: file.track } : "captions" in file ? { captions: 1 } : {};
  return `/api/v1${one(meetingId, recordingId)}/download${query(params)}`;
}

/** A JPEG frame of the recording (only when `has_thumbnail`). */
export function recordingThumbnail(meetingId: string, recordingId: string): string {
  return `/api/v1${one(meetingId, recordingId)}/thumbnail`;
}
