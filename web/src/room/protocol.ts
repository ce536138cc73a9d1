// Signaling protocol v1 (sfu_node/meeting_sfu/protocol.py, docs/signaling.md): the frames this
// client sends and the ones it reads.

import type { TranscriptLine } from "../api/ai";
import { t } from "../i18n";

export type Source = "microphone" | "camera" | "screen";
export type Kind = "audio" | "video";

export interface TrackInfo {
  track_id: string;
  kind: Kind;
  source: Source;
}

export interface ParticipantInfo {
  participant_id: string;
  user_id: string;
  display_name: string;
  role: string;
  audio_muted: boolean;
  video_muted: boolean;
  hand_raised: boolean;
  joined_at: string;
  tracks: TrackInfo[];
}

export interface IncomingTrack extends TrackInfo {
  mid: string;
  user_id: string;
}

export type Role = "host" | "co_host" | "presenter" | "participant";
export const ROLES: readonly Role[] = ["host", "co_host", "presenter", "participant"];

/** Someone waiting in the lobby (hosts and co-hosts are told). */
export interface LobbyEntry {
  user_id: string;
  display_name: string;
  requested_at: string;
}

export interface ChatFrame {
  type: "chat";
  id: string;
  sender: { user_id: string; display_name: string };
  body: string;
  created_at: string;
}

/** One finished caption line (meetings with `settings.ai` on). */
export type CaptionFrame = { type: "caption" } & TranscriptLine;

export type FaceEmotion = "angry" | "disgust" | "fear" | "happy" | "sad" | "surprise" | "neutral";

/** A facial-expression cue for a participant (about once a second at most). */
export interface EmotionFrame {
  type: "emotion";
  user_id: string;
  label: FaceEmotion;
  score: number;
}

/** A host's announcement; `audio_url` (short-lived) is a WAV of it spoken. */
export interface AnnouncementFrame {
  type: "announcement";
  id: string;
  user_id: string;
  display_name: string;
  text: string;
  audio_url: string | null;
}

/** Whether the meeting is being recorded (`recording` frames, and the `joined` snapshot of
 * servers that record). */
export interface RecordingInfo {
  active: boolean;
  recording_id: string | null;
  started_by: string | null;
  started_at: string | null;
}

/** What an announcement may hold (`announce.text`). */
export const ANNOUNCEMENT_MAX_CHARS = 500;

export type ServerFrame =
  | {
      type: "joined";
      v: number;
      me: ParticipantInfo;
      participants: ParticipantInfo[];
      meeting: { id: string; title: string; settings: Record<string, unknown> };
      ice_servers: RTCIceServer[];
      /** Absent on servers that do not record: not recording. */
      recording?: RecordingInfo;
    }
  | { type: "participant_joined"; participant: ParticipantInfo }
  | { type: "participant_updated"; participant: ParticipantInfo }
  | { type: "participant_left"; user_id: string; reason: "left" | "removed" | "disconnected" }
  | ChatFrame
  | CaptionFrame
  | EmotionFrame
  | AnnouncementFrame
  | ({ type: "recording" } & RecordingInfo)
  | { type: "recording_failed"; recording_id: string; reason: string }
  | { type: "muted_by_host"; by: string }
  | { type: "removed"; by: string; reason?: "removed" | "banned" | "deleted" }
  | { type: "meeting_ended"; by: string }
  | { type: "pong"; id: string | null }
  | { type: "publish_answer"; sdp: string }
  | { type: "subscribe_offer"; sdp: string; tracks: IncomingTrack[] }
  | { type: "track_published"; user_id: string; track: TrackInfo }
  | { type: "track_unpublished"; user_id: string; track_id: string }
  | { type: "active_speaker"; user_id: string | null }
  | { type: "lobby"; waiting: LobbyEntry[] }
  | ({ type: "lobby_request" } & LobbyEntry)
  | { type: "lobby_resolved"; user_id: string; admitted: boolean; by: string }
  | { type: "error"; code: string; message: string; in_reply_to: string | null };

export type ClientFrame =
  | { type: "join"; v: 1; token: string }
  | { type: "ping"; id?: string }
  | { type: "chat"; body: string }
  | { type: "mute"; audio?: boolean; video?: boolean }
  | { type: "raise_hand"; raised: boolean }
  | { type: "mute_participant"; user_id: string }
  | { type: "remove_participant"; user_id: string }
  | { type: "change_role"; user_id: string; role: Role }
  | { type: "admit"; user_id: string }
  | { type: "deny"; user_id: string }
  | { type: "end_meeting" }
  | { type: "set_emotion_cues"; enabled: boolean }
  | { type: "announce"; text: string }
  | { type: "start_recording" }
  | { type: "stop_recording" }
  | { type: "publish_offer"; sdp: string; tracks: { mid: string; source: Source }[] }
  | { type: "subscribe_answer"; sdp: string }
  | {
      type: "candidate";
      pc: "publish" | "subscribe";
      candidate: string | null;
      sdp_mid: string | null;
      sdp_mline_index: number | null;
    };

/** Why the node closed the socket (close codes of docs/signaling.md), or null for codes it
 * does not use. */
export function closeReason(code: number): string | null {
  const key = `room.close.${code}`;
  const text = t(key);
  return text === key ? null : text;
}

/** An `error` frame in plain words: the room's wording of the code, the API's, or the node's
 * own message. */
export function describeError(code: string, message: string): string {
  for (const key of [`room.error.${code}`, `error.${code}`]) {
    const text = t(key, { code, detail: message });
    if (text !== key) return text;
  }
  return message || t("error.unknown", { code });
}
