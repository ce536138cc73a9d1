// Generated from docs/signaling.schema.json by web/scripts/protocol-types.mjs
// (`npm run protocol` in web/): do not edit. protocol.ts gives the client its names for these.

export const PROTOCOL_VERSION = 1;

/** What an announcement may hold (`announce.text`, in characters). */
export const ANNOUNCEMENT_MAX_CHARS = 500;

export type ClientFrame =
  | Join
  | (
      | Ping
      | SendChat
      | SetMute
      | RaiseHand
      | MuteParticipant
      | RemoveParticipant
      | ChangeRole
      | AdmitFromLobby
      | DenyFromLobby
      | EndMeeting
      | PublishOffer
      | SubscribeAnswer
      | IceCandidate
      | SetEmotionCues
      | Announce
      | StartRecording
      | StopRecording
    );

/**
 * The first frame: the join token from ``POST /api/v1/meetings/{id}/join``.
 */
export interface Join {
  token: string;
  type: "join";
  /**
   * Protocol version the client speaks
   */
  v?: number;
}
export interface Ping {
  id?: string | null;
  type: "ping";
}
export interface SendChat {
  body: string;
  type: "chat";
}
/**
 * The sender's own microphone/camera state (what others should show).
 */
export interface SetMute {
  audio?: boolean | null;
  type: "mute";
  video?: boolean | null;
}
export interface RaiseHand {
  raised: boolean;
  type: "raise_hand";
}
/**
 * Host or co-host: ask someone's client to mute their microphone.
 */
export interface MuteParticipant {
  type: "mute_participant";
  user_id: string;
}
export interface RemoveParticipant {
  type: "remove_participant";
  user_id: string;
}
export interface ChangeRole {
  role: "host" | "co_host" | "presenter" | "participant";
  type: "change_role";
  user_id: string;
}
export interface AdmitFromLobby {
  type: "admit";
  user_id: string;
}
export interface DenyFromLobby {
  type: "deny";
  user_id: string;
}
export interface EndMeeting {
  type: "end_meeting";
}
/**
 * The client's offer for its publishing connection (client to SFU media). Send a new one
 * whenever tracks are added or removed; ``tracks`` says what each sending m-line is.
 */
export interface PublishOffer {
  sdp: string;
  /**
   * @maxItems 16
   */
  tracks: OutgoingTrack[];
  type: "publish_offer";
}
export interface OutgoingTrack {
  mid: string;
  source: "microphone" | "camera" | "screen";
}
/**
 * The client's answer to the SFU's ``subscribe_offer``.
 */
export interface SubscribeAnswer {
  sdp: string;
  type: "subscribe_answer";
}
/**
 * A trickled ICE candidate for one of the two connections (null candidate: no more).
 */
export interface IceCandidate {
  candidate?: string | null;
  pc: "publish" | "subscribe";
  sdp_mid?: string | null;
  sdp_mline_index?: number | null;
  type: "candidate";
}
/**
 * Whether this participant's face may be read for emotion cues (default: yes, when the
 * meeting has AI on); turning it off stops the analysis, not only the display.
 */
export interface SetEmotionCues {
  enabled: boolean;
  type: "set_emotion_cues";
}
/**
 * A host's or co-host's announcement, spoken into the room by the speech synthesizer.
 */
export interface Announce {
  text: string;
  type: "announce";
}
/**
 * Hosts and co-hosts: record the meeting (its `recording` setting must be on).
 */
export interface StartRecording {
  type: "start_recording";
}
export interface StopRecording {
  type: "stop_recording";
}

export type ServerFrame =
  | Joined
  | ParticipantJoined
  | ParticipantUpdated
  | ParticipantLeft
  | ChatMessage
  | MutedByHost
  | Removed
  | MeetingEnded
  | Pong
  | PublishAnswer
  | SubscribeOffer
  | TrackPublished
  | TrackUnpublished
  | ActiveSpeaker
  | Lobby
  | LobbyRequest
  | LobbyResolved
  | Caption
  | EmotionCue
  | Announcement
  | RecordingState
  | RecordingFailed
  | Error;

/**
 * The room snapshot, sent once after a successful ``join``.
 */
export interface Joined {
  ice_servers: {
    [k: string]: unknown;
  }[];
  me: ParticipantInfo;
  meeting: MeetingInfo;
  /**
   * Everyone else in the room
   */
  participants: ParticipantInfo[];
  recording: RecordingState;
  type: "joined";
  v: number;
}
/**
 * A participant's live presence in a room, as the media node keeps it in the state store.
 */
export interface ParticipantInfo {
  audio_muted: boolean;
  display_name: string;
  hand_raised: boolean;
  joined_at: string;
  participant_id: string;
  role: string;
  tracks: TrackInfo[];
  user_id: string;
  video_muted: boolean;
}
/**
 * A track someone publishes: what others subscribe to.
 */
export interface TrackInfo {
  kind: "audio" | "video";
  source: "microphone" | "camera" | "screen";
  track_id: string;
}
export interface MeetingInfo {
  id: string;
  settings: {
    [k: string]: unknown;
  };
  title: string;
}
/**
 * Whether the meeting is being recorded (everyone in the room sees it).
 */
export interface RecordingState {
  active: boolean;
  recording_id: string | null;
  started_at: string | null;
  started_by: string | null;
  type: "recording";
}
export interface ParticipantJoined {
  participant: ParticipantInfo;
  type: "participant_joined";
}
/**
 * Mute state, raised hand or role changed.
 */
export interface ParticipantUpdated {
  participant: ParticipantInfo;
  type: "participant_updated";
}
export interface ParticipantLeft {
  reason: "left" | "removed" | "disconnected";
  type: "participant_left";
  user_id: string;
}
export interface ChatMessage {
  body: string;
  created_at: string;
  id: string;
  sender: ChatSender;
  type: "chat";
}
export interface ChatSender {
  display_name: string;
  user_id: string;
}
/**
 * To the muted participant: turn the microphone off (their client does it).
 */
export interface MutedByHost {
  by: string;
  type: "muted_by_host";
}
/**
 * To a removed participant, just before the node closes the socket. ``reason`` says why:
 * a host removed them, or an administrator banned or deleted their account.
 */
export interface Removed {
  by: string;
  reason: "removed" | "banned" | "deleted";
  type: "removed";
}
export interface MeetingEnded {
  by: string;
  type: "meeting_ended";
}
export interface Pong {
  id: string | null;
  type: "pong";
}
/**
 * The SFU's answer to ``publish_offer``; its candidates are in the SDP (no trickle).
 */
export interface PublishAnswer {
  sdp: string;
  type: "publish_answer";
}
/**
 * The SFU's offer for the subscribing connection, sent whenever the set of tracks the
 * client receives changes. ``tracks`` maps m-lines to who and what they carry; m-lines not
 * listed are idle. Answer with ``subscribe_answer``.
 */
export interface SubscribeOffer {
  sdp: string;
  tracks: IncomingTrack[];
  type: "subscribe_offer";
}
export interface IncomingTrack {
  kind: "audio" | "video";
  /**
   * The m-line of the subscribe connection that carries it
   */
  mid: string;
  source: "microphone" | "camera" | "screen";
  track_id: string;
  user_id: string;
}
export interface TrackPublished {
  track: TrackInfo;
  type: "track_published";
  user_id: string;
}
export interface TrackUnpublished {
  track_id: string;
  type: "track_unpublished";
  user_id: string;
}
/**
 * The dominant speaker changed (from the audio levels publishers send, RFC 6464).
 */
export interface ActiveSpeaker {
  type: "active_speaker";
  user_id: string | null;
}
/**
 * To a host or co-host, right after ``joined`` (and when someone becomes one) when
 * somebody waits in the lobby: who, oldest request first.
 */
export interface Lobby {
  type: "lobby";
  waiting: LobbyEntry[];
}
export interface LobbyEntry {
  display_name: string;
  requested_at: string;
  user_id: string;
}
/**
 * To the hosts and co-hosts in the room: someone asks to join (the meeting requires
 * approval). Answer with ``admit`` or ``deny``.
 */
export interface LobbyRequest {
  display_name: string;
  requested_at: string;
  type: "lobby_request";
  user_id: string;
}
/**
 * To the hosts and co-hosts in the room: a lobby request was decided (here or anywhere).
 */
export interface LobbyResolved {
  admitted: boolean;
  by: string;
  type: "lobby_resolved";
  user_id: string;
}
/**
 * A finished caption line (meetings with AI on): what someone just said.
 */
export interface Caption {
  display_name: string;
  emotion: LineEmotion | null;
  ended_at: string;
  id: string;
  language: string;
  started_at: string;
  text: string;
  type: "caption";
  user_id: string;
}
/**
 * How a line sounded (VADER on its text): stored with the line, sent with its caption.
 */
export interface LineEmotion {
  label: "positive" | "neutral" | "negative";
  /**
   * VADER's compound score, -1 (negative) .. 1 (positive)
   */
  score: number;
}
/**
 * A participant's facial expression, from their camera, about once a second at most.
 */
export interface EmotionCue {
  label: "angry" | "disgust" | "fear" | "happy" | "sad" | "surprise" | "neutral";
  score: number;
  type: "emotion";
  user_id: string;
}
/**
 * A host's announcement, to everyone in the room (the sender too).
 */
export interface Announcement {
  /**
   * A short-lived WAV of it spoken; none if no AI
   */
  audio_url: string | null;
  display_name: string;
  id: string;
  text: string;
  type: "announcement";
  user_id: string;
}
/**
 * To hosts and co-hosts: a recording could not be made or stored; `reason` says why.
 */
export interface RecordingFailed {
  reason: string;
  recording_id: string;
  type: "recording_failed";
}
/**
 * A frame the node could not act on; the connection stays open unless a close follows.
 */
export interface Error {
  code: string;
  /**
   * The type of the frame refused
   */
  in_reply_to: string | null;
  message: string;
  type: "error";
}
