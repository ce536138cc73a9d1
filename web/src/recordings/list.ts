// The recordings list as the meeting page keeps it: how each status reads, the facts shown for
// each recording, when to look again (only while one is unfinished), and which items a fresh
// answer changed, so that the page redraws those alone (a video being watched keeps playing).
// No DOM and no timers here.

import type { Recording, RecordingStatus } from "../api/recordings";
import { formatDateTime, t } from "../i18n";
import { formatBytes, formatDuration } from "../ui/format";

/** While one is being processed: look again this often. */
export const POLL_PROCESSING_MS = 5000;
/** While one is being recorded (it ends when someone stops it, here or in the room). */
export const POLL_RECORDING_MS = 15_000;

const STATUSES: readonly RecordingStatus[] = ["recording", "processing", "ready", "failed"];

/** A status this client knows (an unknown one reads as processing: not ready yet). */
export function statusOf(recording: Pick<Recording, "status">): RecordingStatus {
  return STATUSES.includes(recording.status) ? recording.status : "processing";
}

/** The badge of a status: its words and its class (the colours the media page uses). */
export function statusBadge(status: RecordingStatus): { label: string; className: string } {
  const className = { recording: "recording", processing: "pending", ready: "ready", failed: "failed" }[status];
  return { label: t(`recordings.status.${status}`), className: `badge ${className}` };
}

/** Milliseconds until the list should be loaded again, or null when nothing will change. */
export function pollDelay(recordings: readonly Pick<Recording, "status">[]): number | null {
  const statuses = recordings.map(statusOf);
  if (statuses.includes("processing")) return POLL_PROCESSING_MS;
  if (statuses.includes("recording")) return POLL_RECORDING_MS;
  return null;
}

export interface RecordingFacts {
  /** When it started, the reader's way. */
  date: string;
  /** `1:02:05`, or null before it is known. */
  duration: string | null;
  /** `1.5 MB`, or null before it is known. */
  size: string | null;
}

export function recordingFacts(recording: Recording, locale: string): RecordingFacts {
  return {
    date: formatDateTime(recording.started_at),
    duration: recording.duration_seconds === null ? null : formatDuration(recording.duration_seconds),
    size: recording.size_bytes === null ? null : formatBytes(recording.size_bytes, locale),
  };
}

/** "Ann: microphone". */
export function trackLabel(track: Recording["tracks"][number]): string {
  const source = t(`recordings.source.${track.source}`);
  return t("recordings.track", { name: track.display_name, source: source.startsWith("recordings.") ? track.source : source });
}

/** Whether captions can be downloaded: as the server says, or (servers that do not say) when
 * the meeting had its AI features on. */
export function hasCaptions(recording: Recording, meetingAi: boolean): boolean {
  return recording.has_captions ?? meetingAi;
}

/** What a recording's item shows: a different value means it must be drawn again. */
function look(recording: Recording): string {
  return JSON.stringify([
    recording.status,
    recording.size_bytes,
    recording.duration_seconds,
    recording.stopped_at,
    recording.error,
    recording.has_thumbnail,
    recording.has_captions,
    recording.tracks.map((track) => [track.track_id, track.display_name, track.size_bytes]),
  ]);
}

export interface Merge {
  /** The ids in the new answer's order (newest first). */
  order: string[];
  /** New ones, and those whose item shows something else now. */
  changed: string[];
  /** Gone from the answer (deleted). */
  removed: string[];
  /** Those that became ready or failed since the last answer (worth saying). */
  finished: Recording[];
}

/** The list a page holds: the last answer, compared with each new one. */
export class RecordingList {
  private current = new Map<string, Recording>();

  get items(): Recording[] {
    return [...this.current.values()];
  }

  get(id: string): Recording | undefined {
    return this.current.get(id);
  }

  /** Take a fresh answer (newest first) and say what changed. */
  merge(next: readonly Recording[]): Merge {
    const before = this.current;
    const changed: string[] = [];
    const finished: Recording[] = [];
    for (const recording of next) {
      const old = before.get(recording.id);
      if (!old || look(old) !== look(recording)) changed.push(recording.id);
      const done = statusOf(recording) === "ready" || statusOf(recording) === "failed";
      if (old && done && statusOf(old) !== statusOf(recording)) finished.push(recording);
    }
    this.current = new Map(next.map((recording) => [recording.id, recording]));
    const removed = [...before.keys()].filter((id) => !this.current.has(id));
    return { order: next.map((recording) => recording.id), changed, removed, finished };
  }

  /** One deleted here: forget it without waiting for the next answer. */
  remove(id: string): void {
    this.current.delete(id);
  }

  pollDelay(): number | null {
    return pollDelay(this.items);
  }
}
