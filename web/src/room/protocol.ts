// Signaling protocol v1 (docs/signaling.md): the frames this client sends and the ones it reads.
// Their types are generated from docs/signaling.schema.json (protocol.generated.ts, `npm run
// protocol`), which the media node's models generate in turn; a test fails when either is stale.
// This module gives them the names the client uses.

import { t } from "../i18n";
import type * as wire from "./protocol.generated";

export { ANNOUNCEMENT_MAX_CHARS, PROTOCOL_VERSION } from "./protocol.generated";
export type {
  ClientFrame,
  IncomingTrack,
  LobbyEntry,
  ParticipantInfo,
  TrackInfo,
} from "./protocol.generated";

export type Source = wire.TrackInfo["source"];
export type Kind = wire.TrackInfo["kind"];

export type Role = wire.ChangeRole["role"];
export const ROLES = ["host", "co_host", "presenter", "participant"] as const satisfies readonly Role[];
// Every role of the protocol is listed (a new one fails to compile here).
const _everyRole: readonly (typeof ROLES)[number][] = [] as Role[];
void _everyRole;

export type ChatFrame = wire.ChatMessage;

/** One finished caption line (meetings with `settings.ai` on). */
export type CaptionFrame = wire.Caption;

export type FaceEmotion = wire.EmotionCue["label"];

/** A facial-expression cue for a participant (about once a second at most). */
export type EmotionFrame = wire.EmotionCue;

/** A host's announcement; `audio_url` (short-lived) is a WAV of it spoken. */
export type AnnouncementFrame = wire.Announcement;

/** Whether the meeting is being recorded (`recording` frames, and the `joined` snapshot). */
export type RecordingInfo = Omit<wire.RecordingState, "type">;

/** The schema types `ice_servers` as objects: they are RTCIceServer dictionaries (`urls`,
 * `username`, `credential`), handed to RTCPeerConnection as they are. */
export type JoinedFrame = Omit<wire.Joined, "ice_servers"> & { ice_servers: RTCIceServer[] };

export type ServerFrame = Exclude<wire.ServerFrame, wire.Joined> | JoinedFrame;

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
