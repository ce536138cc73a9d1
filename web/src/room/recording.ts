// Whether the meeting is being recorded, as the room shows it: the state a `recording` frame or
// the `joined` snapshot gives, and the time since it started. No DOM and no timers: the caller
// passes the time.

import { formatDuration } from "../ui/format";
import type { RecordingInfo } from "./protocol";

export interface RecordingState {
  active: boolean;
  recordingId: string | null;
  startedBy: string | null;
  /** As the server sent it (ISO 8601), or null. */
  startedAt: string | null;
  /** Milliseconds since the epoch the elapsed time counts from (on this clock). */
  since: number | null;
}

export const NOT_RECORDING: RecordingState = {
  active: false,
  recordingId: null,
  startedBy: null,
  startedAt: null,
  since: null,
};

/** The codes of the `error` frames that refuse `start_recording` or `stop_recording`. */
export const RECORDING_ERRORS: ReadonlySet<string> = new Set([
  "recording_disabled",
  "already_recording",
  "not_recording",
]);

/** The state a frame (or a snapshot, absent on servers that do not record) says, received at
 * `now`. A start time this clock places in the future (clocks differ) counts from `now`. */
export function recordingState(info: RecordingInfo | null | undefined, now: number): RecordingState {
  if (!info?.active) return NOT_RECORDING;
  const started = info.started_at ? Date.parse(info.started_at) : Number.NaN;
  return {
    active: true,
    recordingId: info.recording_id ?? null,
    startedBy: info.started_by ?? null,
    startedAt: info.started_at ?? null,
    since: Number.isFinite(started) ? Math.min(started, now) : now,
  };
}

/** Whole seconds recorded by `now` (0 when not recording). */
export function elapsedSeconds(state: RecordingState, now: number): number {
  if (!state.active || state.since === null) return 0;
  return Math.max(0, Math.floor((now - state.since) / 1000));
}

/** `5` → `0:05`; `3725` → `1:02:05`. */
export function formatElapsed(seconds: number): string {
  return formatDuration(Math.floor(Math.max(0, seconds)));
}
