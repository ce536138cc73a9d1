// Signaling protocol v1 (sfu_node/meeting_sfu/protocol.py, docs/signaling.md): the frames this
// client sends and the ones it reads.

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

export interface ChatFrame {
  type: "chat";
  id: string;
  sender: { user_id: string; display_name: string };
  body: string;
  created_at: string;
}

export type ServerFrame =
  | {
      type: "joined";
      v: number;
      me: ParticipantInfo;
      participants: ParticipantInfo[];
      meeting: { id: string; title: string; settings: Record<string, unknown> };
      ice_servers: RTCIceServer[];
    }
  | { type: "participant_joined"; participant: ParticipantInfo }
  | { type: "participant_updated"; participant: ParticipantInfo }
  | { type: "participant_left"; user_id: string; reason: "left" | "removed" | "disconnected" }
  | ChatFrame
  | { type: "muted_by_host"; by: string }
  | { type: "removed"; by: string; reason?: "removed" | "banned" | "deleted" }
  | { type: "meeting_ended"; by: string }
  | { type: "pong"; id: string | null }
  | { type: "publish_answer"; sdp: string }
  | { type: "subscribe_offer"; sdp: string; tracks: IncomingTrack[] }
  | { type: "track_published"; user_id: string; track: TrackInfo }
  | { type: "track_unpublished"; user_id: string; track_id: string }
  | { type: "active_speaker"; user_id: string | null }
  | { type: "error"; code: string; message: string; in_reply_to: string | null };

export type ClientFrame =
  | { type: "join"; v: 1; token: string }
  | { type: "ping"; id?: string }
  | { type: "chat"; body: string }
  | { type: "mute"; audio?: boolean; video?: boolean }
  | { type: "raise_hand"; raised: boolean }
  | { type: "mute_participant"; user_id: string }
  | { type: "remove_participant"; user_id: string }
  | { type: "end_meeting" }
  | { type: "publish_offer"; sdp: string; tracks: { mid: string; source: Source }[] }
  | { type: "subscribe_answer"; sdp: string }
  | {
      type: "candidate";
      pc: "publish" | "subscribe";
      candidate: string | null;
      sdp_mid: string | null;
      sdp_mline_index: number | null;
    };

/** WebSocket close codes of the node (docs/signaling.md). */
export const CLOSE_REASONS: Record<number, string> = {
  4000: "The meeting has ended.",
  4001: "You were removed from the meeting.",
  4002: "You joined this meeting from another window or device.",
  4401: "Your place in the meeting is no longer valid. Join again.",
  4403: "This site is not allowed to connect to the media server.",
  4404: "The meeting is not live on this media server any more.",
  4408: "The connection to the media server timed out.",
  4429: "Your connection was too slow to keep up.",
  1009: "A message was too big.",
};

const ERROR_TEXT: Record<string, string> = {
  chat_disabled: "Chat is turned off in this meeting.",
  rate_limited: "You are sending messages too fast. Wait a moment.",
  not_meeting_manager: "Only the host can do that.",
  participant_not_found: "That person is not in the room any more.",
  invalid_sdp: "The media server could not use this browser's media description.",
  no_codec: "The media server and this browser share no video or audio format.",
  too_many_tracks: "You are already sending as many streams as allowed.",
  invalid_track_source: "That kind of stream cannot be shared.",
  negotiation_failed: "The media connection could not be updated. Leave and join again.",
  answer_timeout: "The media connection stalled. Leave and join again.",
  media_connection_failed: "The media connection failed. Leave and join again.",
  join_token_used: "This join link was already used. Join again.",
  meeting_not_live: "The meeting is not live.",
  not_a_participant: "You are no longer part of this meeting. Join again.",
  internal_error: "Something went wrong on the server.",
};

/** An `error` frame in plain words. */
export function describeError(code: string, message: string): string {
  return ERROR_TEXT[code] ?? (message || `Something went wrong (${code}).`);
}
