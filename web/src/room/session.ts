// One participant's session in a room: the signaling socket and the two peer connections with
// the SFU (docs/signaling.md). No DOM here: the view listens to `change` events and reads state.
//
// - publish connection: this client offers (microphone, camera, and a screen share when one
//   runs) and sends a new `publish_offer` whenever what it sends changes;
// - subscribe connection: the SFU offers whenever the set of tracks this client receives
//   changes; `subscribe_offer.tracks` says which m-line (mid) carries whose track. An idle m-line
//   can later carry someone else's track, so the mapping is rebuilt on every offer.

import type { TranscriptLine } from "../api/ai";
import type { JoinTicket } from "../api/meetings";
import { t } from "../i18n";
import { EmotionBoard } from "./emotion";
import { preference } from "./prefs";
import {
  ANNOUNCEMENT_MAX_CHARS,
  closeReason,
  describeError,
  type AnnouncementFrame,
  type ChatFrame,
  type ClientFrame,
  type IncomingTrack,
  type LobbyEntry,
  type ParticipantInfo,
  type Role,
  type ServerFrame,
  type Source,
} from "./protocol";
import type { StatLike } from "./quality";
import { NOT_RECORDING, RECORDING_ERRORS, recordingState, type RecordingState } from "./recording";
import { lineOf } from "./transcript";

export type Status = "connecting" | "joined" | "left" | "removed" | "ended" | "failed";
export type TileSource = "camera" | "screen";
export type Change =
  | "status"
  | "participants"
  | "media"
  | "local"
  | "speaker"
  | "chat"
  | "notice"
  | "lobby"
  | "captions"
  | "emotion"
  | "announcement"
  | "recording";

/** What this client receives from one person for one tile: their camera (with their
 * microphone) or their screen share. */
export interface RemoteMedia {
  key: string;
  userId: string;
  source: TileSource;
  video: MediaStreamTrack | null;
  audio: MediaStreamTrack | null;
}

export interface InboundStat {
  mid: string;
  user_id: string;
  source: Source;
  kind: "audio" | "video";
  packetsReceived: number;
  bytesReceived: number;
  framesDecoded: number;
  frameWidth: number;
}

export interface Notice {
  level: "error" | "info";
  text: string;
  code?: string;
}

/** A recording that stopped on a failure (told to hosts and co-hosts). */
export interface RecordingFailure {
  recordingId: string;
  reason: string;
}

/** Whether the microphone and camera start on (the pre-join screen's toggles). Off means the
 * track is opened but disabled, so that turning it on later needs no new offer. */
export interface StartState {
  mic: boolean;
  camera: boolean;
  /** Joining again after a lost connection: keep the microphone as it was even where the
   * meeting mutes newcomers. */
  rejoin?: boolean;
  /** Whether others may have this person's face analysed for emotion cues (default: the saved
   * preference). */
  emotionCues?: boolean;
}

const PING_SECONDS = 20;
const NOT_RECONNECTABLE = new Set([4000, 4001, 4002, 4003, 4403, 1009]);
const ANSWER_TIMEOUT_MS = 10_000;

export function tileKey(userId: string, source: TileSource): string {
  return `${userId}/${source}`;
}

type Waiter = { resolve: () => void; reject: (error: Error) => void };

export class RoomSession extends EventTarget {
  status: Status = "connecting";
  endReason = "";
  /** The signaling socket's close code, when the node closed it. */
  closeCode: number | null = null;
  me: ParticipantInfo | null = null;
  meetingTitle = "";
  readonly participants = new Map<string, ParticipantInfo>();
  remote = new Map<string, RemoteMedia>();
  activeSpeaker: string | null = null;
  readonly chat: ChatFrame[] = [];
  readonly notices: Notice[] = [];
  /** Who waits in the lobby (hosts and co-hosts only; keyed by user id). */
  readonly lobby = new Map<string, LobbyEntry>();
  /** Caption lines received live, in arrival order (meetings with `settings.ai` on). */
  readonly captions: TranscriptLine[] = [];
  /** Everyone's latest facial-expression cue (dropped when none came for a few seconds). */
  readonly emotions = new EmotionBoard();
  /** Hosts' announcements, in arrival order. */
  readonly announcements: AnnouncementFrame[] = [];
  /** Whether the meeting is being recorded (everyone is told). */
  recording: RecordingState = NOT_RECORDING;
  /** A start or stop this client asked for has not been answered yet. */
  recordingPending = false;
  /** Refusals of this client's start or stop, in plain words, in arrival order. */
  readonly recordingErrors: Notice[] = [];
  /** Recordings that failed (hosts and co-hosts only), in arrival order. */
  readonly recordingFailures: RecordingFailure[] = [];
  /** Whether this person lets their face be analysed (sent to the node on every join). */
  emotionCues: boolean;

  localStream: MediaStream | null = null;
  screenTrack: MediaStreamTrack | null = null;
  micOn = false;
  cameraOn = false;

  meetingSettings: Record<string, unknown> = {};

  /** `performance.now()` when `start()` ran, and milliseconds from then to milestones (for
   * tests and diagnostics). */
  startedAt = 0;
  readonly timings: Record<string, number> = {};

  private socket: WebSocket | null = null;
  private iceServers: RTCIceServer[] = [];
  private publisher: RTCPeerConnection | null = null;
  private subscriber: RTCPeerConnection | null = null;
  private readonly sources = new Map<RTCRtpTransceiver, Source>();
  private incoming = new Map<string, IncomingTrack>(); // mid -> what it carries
  private readonly pendingCandidates: Record<"publish" | "subscribe", RTCIceCandidate[]> = {
    publish: [],
    subscribe: [],
  };
  private readonly offered: Record<"publish" | "subscribe", boolean> = {
    publish: false,
    subscribe: false,
  };
  private publishAnswer: Waiter | null = null;
  private publishing: Promise<void> = Promise.resolve();
  private frames: Promise<void> = Promise.resolve();
  private pinger: number | undefined;
  private recordingTimer: number | undefined;

  constructor(
    private readonly ticket: JoinTicket,
    private readonly media: MediaStreamConstraints = {
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
    },
    private readonly initial: StartState = { mic: true, camera: true },
  ) {
    super();
    this.emotionCues = initial.emotionCues ?? preference("emotionCues");
  }

  // --- lifetime ------------------------------------------------------------------------------

  /** Connect, join, and publish camera and microphone (whatever of them is available). */
  async start(): Promise<void> {
    this.startedAt = performance.now();
    const localMedia = this.openLocalMedia(); // in parallel with the socket
    const joined = this.connect();
    await joined;
    await localMedia;
    if (this.status !== "joined") return;
    // A meeting that mutes newcomers (mute_on_join) says so in `joined`: follow it.
    if (this.me?.audio_muted && this.micOn && !this.initial.rejoin) this.setMicTrack(false);
    this.announceMute();
    if (this.localStream && this.localStream.getTracks().length > 0) await this.publish();
  }

  private mark(name: string): void {
    this.timings[name] ??= Math.round(performance.now() - this.startedAt);
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.ticket.signaling_url);
      this.socket = socket;
      let settled = false;
      socket.onopen = () => this.send({ type: "join", v: 1, token: this.ticket.join_token });
      socket.onmessage = (event: MessageEvent<string>) => {
        const frame = JSON.parse(event.data) as ServerFrame;
        if (frame.type === "joined" && !settled) {
          settled = true;
          this.onJoined(frame);
          resolve();
          return;
        }
        if (frame.type === "error" && frame.in_reply_to === "join" && !settled) {
          settled = true;
          this.finish("failed", describeError(frame.code, frame.message));
          reject(new Error(this.endReason));
          return;
        }
        // Frames are handled one after another: an offer must be applied before the next.
        this.frames = this.frames
          .then(() => this.handle(frame))
          .catch((error: unknown) => this.notice("error", t("room.media_error", { detail: String(error) })));
      };
      socket.onclose = (event: CloseEvent) => {
        if (!settled) {
          settled = true;
          reject(new Error(closeReason(event.code) ?? t("room.unreachable")));
        }
        if (this.status === "joined" || this.status === "connecting") {
          const reason = closeReason(event.code) ?? t("room.lost");
          this.closeCode = event.code;
          this.finish(event.code === 4000 ? "ended" : event.code === 4001 ? "removed" : "failed", reason);
        }
      };
    });
  }

  private async openLocalMedia(): Promise<void> {
    const attempts: MediaStreamConstraints[] = [
      this.media,
      { audio: this.media.audio ?? true },
      { video: this.media.video ?? true },
    ];
    for (const constraints of attempts) {
      try {
        this.localStream = await navigator.mediaDevices.getUserMedia(constraints);
        break;
      } catch {
        // try with less
      }
    }
    if (!this.localStream) {
      this.notice("error", t("room.no_devices"));
      return;
    }
    if (this.status !== "connecting" && this.status !== "joined") {
      for (const track of this.localStream.getTracks()) track.stop(); // ended meanwhile
      this.localStream = null;
      return;
    }
    this.mark("localMedia");
    const audio = this.localStream.getAudioTracks();
    const video = this.localStream.getVideoTracks();
    for (const track of audio) track.enabled = this.initial.mic;
    for (const track of video) track.enabled = this.initial.camera;
    this.micOn = this.initial.mic && audio.length > 0;
    this.cameraOn = this.initial.camera && video.length > 0;
    this.emit("local");
  }

  /** Tell the others when this client starts muted or with its camera off. */
  private announceMute(): void {
    if (!this.me) return;
    const audio = !this.micOn;
    const video = !this.cameraOn;
    if (audio !== this.me.audio_muted || video !== this.me.video_muted) {
      this.me = { ...this.me, audio_muted: audio, video_muted: video };
      this.send({ type: "mute", audio, video });
    }
  }

  /** Whether joining again may bring the meeting back: the connection was lost (network, a
   * media node that stopped, a room moved), not ended, refused or taken over by another window. */
  get reconnectable(): boolean {
    return this.status === "failed" && !NOT_RECONNECTABLE.has(this.closeCode ?? 0) && this.me !== null;
  }

  /** Leave the meeting: close the socket (the node counts that as leaving) and all media. */
  leave(): void {
    this.finish("left", t("room.left"));
  }

  private finish(status: Status, reason: string): void {
    if (this.status !== "connecting" && this.status !== "joined") return;
    this.status = status;
    this.endReason = reason;
    window.clearInterval(this.pinger);
    window.clearTimeout(this.recordingTimer);
    this.recordingPending = false;
    this.publishAnswer?.reject(new Error(reason));
    this.publishAnswer = null;
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.screenTrack?.stop();
    this.screenTrack = null;
    this.publisher?.close();
    this.subscriber?.close();
    this.publisher = this.subscriber = null;
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000, status);
    this.remote = new Map();
    this.incoming = new Map();
    this.micOn = this.cameraOn = false;
    this.emit("status");
  }

  // --- frames --------------------------------------------------------------------------------

  private send(frame: ClientFrame): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  private onJoined(frame: Extract<ServerFrame, { type: "joined" }>): void {
    this.mark("joined");
    this.status = "joined";
    this.me = frame.me;
    this.meetingTitle = frame.meeting.title;
    this.meetingSettings = frame.meeting.settings ?? {};
    this.recording = recordingState(frame.recording, Date.now());
    this.iceServers = frame.ice_servers ?? [];
    for (const participant of frame.participants) this.participants.set(participant.user_id, participant);
    this.pinger = window.setInterval(() => this.send({ type: "ping" }), PING_SECONDS * 1000);
    // Analysis is on unless refused: a refusal is said again on every join (the node forgets).
    if (!this.emotionCues) this.send({ type: "set_emotion_cues", enabled: false });
    this.emit("status");
    this.emit("participants");
  }

  private async handle(frame: ServerFrame): Promise<void> {
    switch (frame.type) {
      case "participant_joined":
      case "participant_updated":
        if (frame.participant.user_id === this.me?.user_id) {
          this.me = frame.participant;
          if (!this.isManager && this.lobby.size > 0) {
            this.lobby.clear(); // no longer a host or co-host: the lobby is not ours to decide
            this.emit("lobby");
          }
        } else {
          this.participants.set(frame.participant.user_id, frame.participant);
        }
        this.emit("participants");
        break;
      case "participant_left":
        this.participants.delete(frame.user_id);
        this.emotions.delete(frame.user_id);
        if (this.activeSpeaker === frame.user_id) this.activeSpeaker = null;
        this.emit("participants");
        break;
      case "chat":
        this.chat.push(frame);
        this.emit("chat");
        break;
      case "caption":
        this.captions.push(lineOf(frame));
        this.emit("captions");
        break;
      case "emotion":
        this.emotions.set(frame.user_id, { label: frame.label, score: frame.score }, Date.now());
        this.emit("emotion");
        break;
      case "announcement":
        this.announcements.push(frame);
        this.emit("announcement");
        break;
      case "recording":
        this.recording = recordingState(frame, Date.now());
        this.settleRecording();
        this.emit("recording");
        break;
      case "recording_failed":
        this.recordingFailures.push({ recordingId: frame.recording_id, reason: frame.reason });
        this.settleRecording();
        this.emit("recording");
        break;
      case "muted_by_host":
        this.setMicTrack(false);
        this.notice("info", t("room.muted_by_host"));
        break;
      case "removed":
        // A ban or a deleted account says so: the person would otherwise blame the host.
        this.finish(
          "removed",
          frame.reason === "banned" || frame.reason === "deleted"
            ? t(`room.removed_${frame.reason}`)
            : t("room.removed"),
        );
        break;
      case "meeting_ended":
        this.finish("ended", t("room.ended"));
        break;
      case "lobby":
        this.lobby.clear();
        for (const entry of frame.waiting) this.lobby.set(entry.user_id, entry);
        this.emit("lobby");
        break;
      case "lobby_request": {
        const { type: _type, ...entry } = frame;
        this.lobby.set(entry.user_id, entry);
        this.emit("lobby");
        break;
      }
      case "lobby_resolved":
        if (this.lobby.delete(frame.user_id)) this.emit("lobby");
        break;
      case "active_speaker":
        this.activeSpeaker = frame.user_id;
        this.emit("speaker");
        break;
      case "publish_answer":
        await this.onPublishAnswer(frame.sdp);
        break;
      case "subscribe_offer":
        await this.onSubscribeOffer(frame.sdp, frame.tracks);
        break;
      case "track_published": {
        const who = this.participants.get(frame.user_id);
        if (who) who.tracks = [...who.tracks.filter((t) => t.track_id !== frame.track.track_id), frame.track];
        break;
      }
      case "track_unpublished": {
        const who = this.participants.get(frame.user_id);
        if (who) who.tracks = who.tracks.filter((t) => t.track_id !== frame.track_id);
        break;
      }
      case "error":
        if (this.answersRecording(frame.code, frame.in_reply_to)) {
          this.settleRecording();
          this.recordingErrors.push({ level: "error", text: describeError(frame.code, frame.message), code: frame.code });
          this.emit("recording");
        } else {
          this.notice("error", describeError(frame.code, frame.message), frame.code);
        }
        break;
      case "joined":
      case "pong":
        break;
    }
  }

  /** Whether an `error` frame refuses this client's start or stop of a recording. */
  private answersRecording(code: string, inReplyTo: string | null): boolean {
    if (inReplyTo === "start_recording" || inReplyTo === "stop_recording") return true;
    return inReplyTo === null && this.recordingPending && (RECORDING_ERRORS.has(code) || code === "not_meeting_manager");
  }

  private settleRecording(): void {
    window.clearTimeout(this.recordingTimer);
    this.recordingPending = false;
  }

  private notice(level: Notice["level"], text: string, code?: string): void {
    this.notices.push({ level, text, code });
    this.emit("notice");
  }

  private emit(change: Change): void {
    this.dispatchEvent(new CustomEvent<Change>("change", { detail: change }));
  }

  // --- peer connections ----------------------------------------------------------------------

  private peer(which: "publish" | "subscribe"): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    pc.onicecandidate = (event) => {
      if (!event.candidate || !event.candidate.candidate) return; // end of candidates
      if (this.offered[which]) this.sendCandidate(which, event.candidate);
      else this.pendingCandidates[which].push(event.candidate);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") this.mark(`${which}Connected`);
      if (pc.connectionState === "failed" && this.status === "joined") {
        // The SFU cannot restart ICE: a fresh join (new socket, new connections) recovers.
        this.finish("failed", t(which === "publish" ? "room.send_lost" : "room.receive_lost"));
      }
    };
    return pc;
  }

  private sendCandidate(which: "publish" | "subscribe", candidate: RTCIceCandidate): void {
    this.send({
      type: "candidate",
      pc: which,
      candidate: candidate.candidate,
      sdp_mid: candidate.sdpMid,
      sdp_mline_index: candidate.sdpMLineIndex,
    });
  }

  private flushCandidates(which: "publish" | "subscribe"): void {
    this.offered[which] = true;
    for (const candidate of this.pendingCandidates[which].splice(0)) this.sendCandidate(which, candidate);
  }

  // --- publishing ----------------------------------------------------------------------------

  /** Send a new publish offer describing what this client sends now (serialized). */
  private publish(): Promise<void> {
    const next = this.publishing.then(() => this.publishOnce());
    this.publishing = next.catch(() => undefined);
    return next;
  }

  private async publishOnce(): Promise<void> {
    if (this.status !== "joined") return;
    if (!this.publisher) {
      const pc = (this.publisher = this.peer("publish"));
      const stream = this.localStream ?? new MediaStream();
      for (const track of this.localStream?.getTracks() ?? []) {
        const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
        this.sources.set(transceiver, track.kind === "audio" ? "microphone" : "camera");
      }
    }
    const pc = this.publisher;
    await pc.setLocalDescription(await pc.createOffer());
    const tracks: { mid: string; source: Source }[] = [];
    for (const transceiver of pc.getTransceivers()) {
      const source = this.sources.get(transceiver);
      if (source && transceiver.mid !== null && transceiver.direction === "sendonly") {
        tracks.push({ mid: transceiver.mid, source });
      }
    }
    const answered = new Promise<void>((resolve, reject) => {
      this.publishAnswer = { resolve, reject };
    });
    this.send({ type: "publish_offer", sdp: pc.localDescription!.sdp, tracks });
    this.flushCandidates("publish");
    let timer: number | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = window.setTimeout(() => reject(new Error("no answer to the publish offer")), ANSWER_TIMEOUT_MS);
    });
    try {
      await Promise.race([answered, timeout]);
    } finally {
      window.clearTimeout(timer);
    }
  }

  private async onPublishAnswer(sdp: string): Promise<void> {
    const waiter = this.publishAnswer;
    this.publishAnswer = null;
    if (!this.publisher || this.publisher.signalingState !== "have-local-offer") return;
    try {
      await this.publisher.setRemoteDescription({ type: "answer", sdp });
      this.mark("published");
      waiter?.resolve();
    } catch (error) {
      waiter?.reject(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  // --- subscribing ---------------------------------------------------------------------------

  private async onSubscribeOffer(sdp: string, tracks: IncomingTrack[]): Promise<void> {
    if (this.status !== "joined") return;
    this.subscriber ??= this.peer("subscribe");
    const pc = this.subscriber;
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: "subscribe_answer", sdp: pc.localDescription!.sdp });
    this.flushCandidates("subscribe");
    this.incoming = new Map(tracks.map((track) => [track.mid, track]));
    this.mapIncoming(pc);
  }

  /** Who each receiving m-line belongs to, from the latest subscribe offer. */
  private mapIncoming(pc: RTCPeerConnection): void {
    const remote = new Map<string, RemoteMedia>();
    for (const transceiver of pc.getTransceivers()) {
      const described = transceiver.mid === null ? undefined : this.incoming.get(transceiver.mid);
      if (!described) continue;
      const source: TileSource = described.source === "screen" ? "screen" : "camera";
      const key = tileKey(described.user_id, source);
      const entry = remote.get(key) ?? { key, userId: described.user_id, source, video: null, audio: null };
      if (described.kind === "video") entry.video = transceiver.receiver.track;
      else entry.audio = transceiver.receiver.track;
      remote.set(key, entry);
    }
    this.remote = remote;
    if (remote.size > 0) this.mark("firstRemoteTrack");
    this.emit("media");
  }

  /** Receive statistics per incoming track (what tests and diagnostics read). */
  async inboundStats(): Promise<InboundStat[]> {
    const pc = this.subscriber;
    if (!pc) return [];
    const result: InboundStat[] = [];
    for (const transceiver of pc.getTransceivers()) {
      const described = transceiver.mid === null ? undefined : this.incoming.get(transceiver.mid);
      if (!described) continue;
      let latest: Record<string, number> | null = null;
      const report = await transceiver.receiver.getStats();
      report.forEach((stat: Record<string, number | string>) => {
        if (stat.type !== "inbound-rtp") return;
        const numbers = stat as Record<string, number>;
        if (!latest || (numbers.lastPacketReceivedTimestamp ?? 0) > (latest.lastPacketReceivedTimestamp ?? 0)) {
          latest = numbers;
        }
      });
      const stat: Record<string, number> = latest ?? {};
      result.push({
        mid: described.mid,
        user_id: described.user_id,
        source: described.source,
        kind: described.kind,
        packetsReceived: stat.packetsReceived ?? 0,
        bytesReceived: stat.bytesReceived ?? 0,
        framesDecoded: stat.framesDecoded ?? 0,
        frameWidth: stat.frameWidth ?? 0,
      });
    }
    return result;
  }

  // --- controls ------------------------------------------------------------------------------

  private setMicTrack(on: boolean): void {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = on;
    this.micOn = on && (this.localStream?.getAudioTracks().length ?? 0) > 0;
    this.emit("local");
  }

  toggleMic(): void {
    if (!this.localStream?.getAudioTracks().length) return;
    this.setMicTrack(!this.micOn);
    this.send({ type: "mute", audio: !this.micOn });
  }

  toggleCamera(): void {
    const tracks = this.localStream?.getVideoTracks() ?? [];
    if (!tracks.length) return;
    this.cameraOn = !this.cameraOn;
    for (const track of tracks) track.enabled = this.cameraOn;
    this.send({ type: "mute", video: !this.cameraOn });
    this.emit("local");
  }

  get sharing(): boolean {
    return this.screenTrack !== null;
  }

  async startScreenShare(): Promise<void> {
    if (this.screenTrack || this.status !== "joined") return;
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      this.notice("info", t("room.share_cancelled"));
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    if (this.status !== "joined") {
      track.stop();
      return;
    }
    this.screenTrack = track;
    track.addEventListener("ended", () => void this.stopScreenShare()); // the browser's own "Stop"
    this.emit("local");
    await this.publishing; // the publisher exists once the first offer went out
    const pc = (this.publisher ??= this.peer("publish"));
    const idle = [...this.sources.entries()].find(
      ([transceiver, source]) => source === "screen" && transceiver.direction === "inactive",
    )?.[0];
    if (idle) {
      await idle.sender.replaceTrack(track);
      idle.direction = "sendonly";
    } else {
      const transceiver = pc.addTransceiver(track, { direction: "sendonly" });
      this.sources.set(transceiver, "screen");
    }
    await this.republish();
  }

  private async republish(): Promise<void> {
    try {
      await this.publish();
    } catch (error) {
      if (this.status === "joined") this.notice("error", t("room.republish_failed", { detail: String(error) }));
    }
  }

  async stopScreenShare(): Promise<void> {
    const track = this.screenTrack;
    if (!track) return;
    this.screenTrack = null;
    track.stop();
    this.emit("local");
    if (!this.publisher || this.status !== "joined") return;
    for (const [transceiver, source] of this.sources) {
      if (source === "screen" && transceiver.sender.track === track) {
        await transceiver.sender.replaceTrack(null);
        transceiver.direction = "inactive";
      }
    }
    await this.republish();
  }

  sendChat(body: string): void {
    const text = body.trim();
    if (text) this.send({ type: "chat", body: text });
  }

  raiseHand(raised: boolean): void {
    this.send({ type: "raise_hand", raised });
  }

  /** Host or co-host: give someone another role (making someone host hands the meeting over). */
  changeRole(userId: string, role: Role): void {
    this.send({ type: "change_role", user_id: userId, role });
  }

  /** Host or co-host: let someone waiting in the lobby in, or turn them away. */
  decide(userId: string, admit: boolean): void {
    this.send({ type: admit ? "admit" : "deny", user_id: userId });
  }

  /** Allow (the default) or refuse the analysis of one's own face for emotion cues. */
  setEmotionCues(enabled: boolean): void {
    this.emotionCues = enabled;
    this.send({ type: "set_emotion_cues", enabled });
  }

  /** Host or co-host: say something to everyone (shown, and spoken where the node can).
   * False when the text is empty or too long (nothing is sent). */
  announce(text: string): boolean {
    const words = text.trim();
    if (!words || [...words].length > ANNOUNCEMENT_MAX_CHARS) return false; // characters, not UTF-16 units
    this.send({ type: "announce", text: words });
    return true;
  }

  /** Host or co-host: start recording the meeting, or stop the recording that runs. Everyone
   * hears of it in a `recording` frame; until then (or a refusal) the request is pending. */
  setRecording(on: boolean): void {
    if (this.recordingPending || this.status !== "joined") return;
    this.send({ type: on ? "start_recording" : "stop_recording" });
    this.recordingPending = true;
    this.recordingTimer = window.setTimeout(() => {
      if (!this.recordingPending) return;
      this.recordingPending = false;
      this.recordingErrors.push({ level: "error", text: t("room.recording_no_answer") });
      this.emit("recording");
    }, ANSWER_TIMEOUT_MS);
    this.emit("recording");
  }

  /** Whether this client may start or stop recordings here: hosts and co-hosts, in meetings
   * whose settings allow it (a recording that runs can always be stopped). */
  get canRecord(): boolean {
    return this.isManager && (this.meetingSettings.recording === true || this.recording.active);
  }

  /** Host or co-host: end the meeting for everyone. */
  endMeeting(): void {
    this.send({ type: "end_meeting" });
  }

  /** Host or co-host: remove someone from the meeting. */
  removeParticipant(userId: string): void {
    this.send({ type: "remove_participant", user_id: userId });
  }

  /** Host or co-host: ask someone's client to mute their microphone. */
  muteParticipant(userId: string): void {
    this.send({ type: "mute_participant", user_id: userId });
  }

  // --- devices -------------------------------------------------------------------------------

  /** The device the current microphone or camera track comes from. */
  deviceId(kind: "audio" | "video"): string | null {
    const track = kind === "audio" ? this.localStream?.getAudioTracks()[0] : this.localStream?.getVideoTracks()[0];
    return track?.getSettings().deviceId ?? null;
  }

  /** Send from another microphone or camera without leaving: the new track replaces the old one
   * on the same sender (no renegotiation), muted if the old one was. */
  async switchDevice(kind: "audio" | "video", deviceId: string): Promise<void> {
    if (this.status !== "joined") return; // the same device again re-opens it (a fresh track)
    const base = kind === "audio" ? this.media.audio : this.media.video;
    const constraints: MediaTrackConstraints = {
      ...(typeof base === "object" ? base : {}),
      deviceId: { exact: deviceId },
    };
    let track: MediaStreamTrack | undefined;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
      track = stream.getTracks()[0];
    } catch {
      // falls through to the notice
    }
    if (!track) {
      this.notice("error", t("room.device_failed"));
      return;
    }
    if (this.status !== "joined") {
      track.stop();
      return;
    }
    await this.publishing; // the first publish creates the senders
    const stream = (this.localStream ??= new MediaStream());
    const old = kind === "audio" ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    track.enabled = old ? old.enabled : true;
    stream.addTrack(track);
    if (old) stream.removeTrack(old);
    const source: Source = kind === "audio" ? "microphone" : "camera";
    const sender = [...this.sources].find(([, s]) => s === source)?.[0].sender;
    if (sender) {
      await sender.replaceTrack(track);
    } else if (this.publisher) {
      // nothing of this kind was sent before: a new m-line, so this one does renegotiate
      const transceiver = this.publisher.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      this.sources.set(transceiver, source);
      await this.republish();
    } else {
      await this.republish();
    }
    old?.stop();
    if (kind === "audio") this.micOn = track.enabled;
    else this.cameraOn = track.enabled;
    if (!old) this.send(kind === "audio" ? { type: "mute", audio: false } : { type: "mute", video: false });
    this.emit("local");
  }

  /** Raw statistics of both media connections (for the connection quality indicator). */
  async connectionStats(): Promise<{ sending: StatLike[]; receiving: StatLike[] }> {
    const read = async (pc: RTCPeerConnection | null): Promise<StatLike[]> => {
      if (!pc || pc.connectionState === "closed") return [];
      const stats: StatLike[] = [];
      (await pc.getStats()).forEach((stat: StatLike) => stats.push(stat));
      return stats;
    };
    return { sending: await read(this.publisher), receiving: await read(this.subscriber) };
  }

  get meetingId(): string {
    return this.ticket.meeting.id;
  }

  /** Whether the meeting has its AI features on (captions, transcript, emotion cues). */
  get aiEnabled(): boolean {
    return this.meetingSettings.ai === true;
  }

  get isManager(): boolean {
    return this.me?.role === "host" || this.me?.role === "co_host";
  }
}
