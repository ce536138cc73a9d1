// The room's signaling state machine against a scripted socket: joining, failing to join, which
// endings bring a rejoin (the join page reconnects when `reconnectable` says so), the AI frames
// (captions, emotion cues, announcements), and recording (the indicator's state, start and stop).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";
import type { JoinTicket } from "../src/api/meetings";
import { RoomSession, type Change, type StartState } from "../src/room/session";
import { ScriptedSocket } from "./support/socket";

/** The session's change events, in order. */
function changes(session: RoomSession): Change[] {
  const seen: Change[] = [];
  session.addEventListener("change", (event) => seen.push((event as CustomEvent<Change>).detail));
  return seen;
}

// Only what the session reads of a ticket matters here.
const ticket = {
  signaling_url: "ws://node.test/ws/signaling",
  join_token: "a-join-token-for-tests",
  participant_id: "p1",
  role: "participant",
  ice_servers: [],
  meeting: { id: "m1", title: "Standup" },
} as unknown as JoinTicket;

const joined = {
  type: "joined",
  v: 1,
  me: { user_id: "u1", participant_id: "p1", display_name: "Ann", role: "participant", joined_at: "2026-11-28T10:00:00Z", tracks: [] },
  participants: [],
  meeting: { id: "m1", title: "Standup", settings: {} },
  ice_servers: [],
};

async function joinedSession(
  start: StartState = { mic: false, camera: false },
  snapshot: Record<string, unknown> = joined,
): Promise<[RoomSession, ScriptedSocket]> {
  // No camera or microphone in this environment: the session goes on without them.
  const session = new RoomSession(ticket, { audio: false, video: false }, start);
  const started = session.start();
  await vi.waitFor(() => expect(ScriptedSocket.last?.sent[0]).toBeDefined());
  const socket = ScriptedSocket.last!;
  socket.receive(snapshot);
  await started;
  return [session, socket];
}

describe("the room session", () => {
  beforeEach(() => {
    setLocale("en");
    vi.stubGlobal("WebSocket", ScriptedSocket);
  });
  afterEach(() => vi.unstubAllGlobals());

  it("joins with the ticket's token and takes the snapshot", async () => {
    const [session, socket] = await joinedSession();
    expect(socket.url).toBe(ticket.signaling_url);
    expect(socket.sent[0]).toEqual({ type: "join", v: 1, token: ticket.join_token });
    expect(session.status).toBe("joined");
    expect(session.me?.display_name).toBe("Ann");
    expect(session.meetingTitle).toBe("Standup");
  });

  it("fails to join with the node's reason and does not retry by itself", async () => {
    const session = new RoomSession(ticket, { audio: false, video: false }, { mic: false, camera: false });
    const started = session.start().catch((error: Error) => error);
    await vi.waitFor(() => expect(ScriptedSocket.last?.sent[0]).toBeDefined());
    ScriptedSocket.last!.receive({ type: "error", code: "join_token_used", message: "used", in_reply_to: "join" });
    expect(await started).toBeInstanceOf(Error);
    expect(session.status).toBe("failed");
    expect(session.reconnectable).toBe(false); // never joined: a rejoin would fail the same way
  });

  it.each([
    [1006, "failed", true], // the network dropped
    [1012, "failed", true], // the node restarted
    [4404, "failed", true], // the room moved to another node
    [4000, "ended", false],
    [4001, "removed", false],
    [4002, "failed", false], // another window took over
  ])("after close code %i it is %s (reconnect: %s)", async (code, status, reconnect) => {
    const [session, socket] = await joinedSession();
    socket.drop(code);
    expect(session.status).toBe(status);
    expect(session.reconnectable).toBe(reconnect);
  });

  it("leaving is final", async () => {
    const [session] = await joinedSession();
    session.leave();
    expect(session.status).toBe("left");
    expect(session.reconnectable).toBe(false);
  });
});

describe("the room session's AI frames", () => {
  beforeEach(() => {
    setLocale("en");
    localStorage.clear();
    vi.stubGlobal("WebSocket", ScriptedSocket);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
    localStorage.clear();
  });

  const withAi = {
    ...joined,
    meeting: { id: "m1", title: "Standup", settings: { ai: true, ai_language: "auto" } },
    participants: [
      { user_id: "u2", participant_id: "p2", display_name: "Bob", role: "participant", joined_at: "2026-11-28T10:00:00Z", tracks: [] },
    ],
  };
  const caption = (id: string, text: string) => ({
    type: "caption",
    id,
    user_id: "u2",
    display_name: "Bob",
    text,
    started_at: "2026-11-28T10:00:01Z",
    ended_at: "2026-11-28T10:00:03Z",
    language: "en",
    emotion: { label: "positive", score: 0.6 },
  });

  it("reads the AI settings of the snapshot", async () => {
    const [plain] = await joinedSession();
    expect(plain.aiEnabled).toBe(false);
    const [session] = await joinedSession(undefined, withAi);
    expect(session.aiEnabled).toBe(true);
    expect(session.meetingSettings.ai_language).toBe("auto");
  });

  it("keeps caption lines in arrival order and says so", async () => {
    const [session, socket] = await joinedSession(undefined, withAi);
    const seen = changes(session);
    socket.receive(caption("c1", "Good morning"));
    socket.receive(caption("c2", "Shall we start?"));
    await vi.waitFor(() => expect(session.captions).toHaveLength(2));
    expect(session.captions.map((line) => line.text)).toEqual(["Good morning", "Shall we start?"]);
    expect(session.captions[0]).not.toHaveProperty("type");
    expect(session.captions[0]!.emotion).toEqual({ label: "positive", score: 0.6 });
    expect(seen.filter((change) => change === "captions")).toHaveLength(2);
  });

  it("keeps each person's latest emotion cue for a few seconds, and forgets those who leave", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-11-28T10:00:00Z"));
    const [session, socket] = await joinedSession(undefined, withAi);
    const seen = changes(session);
    socket.receive({ type: "emotion", user_id: "u2", label: "happy", score: 0.9 });
    await vi.waitFor(() => expect(seen).toContain("emotion"));
    expect(session.emotions.get("u2", Date.now())).toEqual({ label: "happy", score: 0.9 });
    vi.setSystemTime(new Date("2026-11-28T10:00:06Z"));
    expect(session.emotions.get("u2", Date.now())).toBeNull(); // no update for over 5 s

    socket.receive({ type: "emotion", user_id: "u2", label: "sad", score: 0.4 });
    socket.receive({ type: "participant_left", user_id: "u2", reason: "left" });
    await vi.waitFor(() => expect(session.participants.size).toBe(0));
    expect(session.emotions.get("u2", Date.now())).toBeNull();
  });

  it("keeps announcements, the sender's own included", async () => {
    const [session, socket] = await joinedSession(undefined, withAi);
    const seen = changes(session);
    socket.receive({
      type: "announcement",
      id: "a1",
      user_id: "u1",
      display_name: "Ann",
      text: "Break until 11",
      audio_url: "https://media.test/a1.wav",
    });
    await vi.waitFor(() => expect(session.announcements).toHaveLength(1));
    expect(session.announcements[0]).toMatchObject({ display_name: "Ann", text: "Break until 11" });
    expect(seen).toContain("announcement");
  });

  it("says nothing about emotion cues on join while they are allowed", async () => {
    const [session, socket] = await joinedSession();
    expect(session.emotionCues).toBe(true);
    expect(socket.sentOf("set_emotion_cues")).toEqual([]);
  });

  it("refuses emotion cues on every join while the saved preference is off", async () => {
    localStorage.setItem("meeting.room.emotionCues", "false");
    const [session, socket] = await joinedSession();
    expect(session.emotionCues).toBe(false);
    expect(socket.sentOf("set_emotion_cues")).toEqual([{ type: "set_emotion_cues", enabled: false }]);
    // a lost connection: the join page makes a new session, which says it again
    socket.drop(1006);
    const [, again] = await joinedSession({ mic: false, camera: false, rejoin: true });
    expect(again).not.toBe(socket);
    expect(again.sentOf("set_emotion_cues")).toEqual([{ type: "set_emotion_cues", enabled: false }]);
  });

  it("follows the start state over the saved preference", async () => {
    const [, socket] = await joinedSession({ mic: false, camera: false, emotionCues: false });
    expect(socket.sentOf("set_emotion_cues")).toEqual([{ type: "set_emotion_cues", enabled: false }]);
  });

  it("sends the emotion-cue switch as it is toggled", async () => {
    const [session, socket] = await joinedSession();
    session.setEmotionCues(false);
    session.setEmotionCues(true);
    expect(socket.sentOf("set_emotion_cues")).toEqual([
      { type: "set_emotion_cues", enabled: false },
      { type: "set_emotion_cues", enabled: true },
    ]);
    expect(session.emotionCues).toBe(true);
  });

  it("sends announcements of 1 to 500 characters, trimmed", async () => {
    const [session, socket] = await joinedSession(undefined, withAi);
    expect(session.announce("  Break until 11 ")).toBe(true);
    expect(session.announce("   ")).toBe(false);
    expect(session.announce("x".repeat(501))).toBe(false);
    expect(session.announce("x".repeat(500))).toBe(true);
    expect(session.announce("🎉".repeat(500))).toBe(true); // characters, not UTF-16 units
    expect(socket.sentOf("announce")).toEqual([
      { type: "announce", text: "Break until 11" },
      { type: "announce", text: "x".repeat(500) },
      { type: "announce", text: "🎉".repeat(500) },
    ]);
  });

  it("shows the node's refusal of an announcement like any error", async () => {
    const [session, socket] = await joinedSession(undefined, withAi);
    session.announce("Hello");
    socket.receive({ type: "error", code: "not_meeting_manager", message: "hosts only", in_reply_to: "announce" });
    await vi.waitFor(() => expect(session.notices.at(-1)?.code).toBe("not_meeting_manager"));
    expect(session.notices.at(-1)).toMatchObject({ level: "error", code: "not_meeting_manager", text: "Only the host can do that." });
  });
});

describe("the room session's recording", () => {
  beforeEach(() => {
    setLocale("en");
    vi.stubGlobal("WebSocket", ScriptedSocket);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  const host = {
    ...joined,
    me: { ...joined.me, role: "host" },
    meeting: { id: "m1", title: "Standup", settings: { recording: true } },
  };
  const started = {
    type: "recording",
    active: true,
    recording_id: "r1",
    started_by: "u1",
    started_at: "2026-11-28T10:00:00Z",
  };
  const stopped = { type: "recording", active: false, recording_id: null, started_by: null, started_at: null };

  it("is not recording when the snapshot says nothing of it (older servers)", async () => {
    const [session] = await joinedSession();
    expect(session.recording.active).toBe(false);
    expect(session.recording.recordingId).toBeNull();
  });

  it("shows at once a recording the snapshot says runs", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-11-28T10:01:05Z"));
    const [session] = await joinedSession(undefined, { ...joined, recording: { ...started, type: undefined } });
    expect(session.recording).toMatchObject({ active: true, recordingId: "r1", startedBy: "u1", startedAt: started.started_at });
    expect(session.recording.since).toBe(Date.parse(started.started_at));
  });

  it("follows recording frames, for everyone", async () => {
    const [session, socket] = await joinedSession();
    const seen = changes(session);
    socket.receive(started);
    await vi.waitFor(() => expect(session.recording.active).toBe(true));
    expect(session.recording.recordingId).toBe("r1");
    socket.receive(stopped);
    await vi.waitFor(() => expect(session.recording.active).toBe(false));
    expect(seen.filter((change) => change === "recording")).toHaveLength(2);
    expect(session.notices.filter((notice) => notice.code)).toEqual([]);
  });

  it("lets hosts and co-hosts record in meetings that allow it", async () => {
    const [participant] = await joinedSession(undefined, { ...host, me: joined.me });
    expect(participant.canRecord).toBe(false);
    const [coHost] = await joinedSession(undefined, { ...host, me: { ...joined.me, role: "co_host" } });
    expect(coHost.canRecord).toBe(true);
    const [notAllowed] = await joinedSession(undefined, { ...host, meeting: { ...host.meeting, settings: { recording: false } } });
    expect(notAllowed.canRecord).toBe(false);
    // one that runs can be stopped even so
    const [running] = await joinedSession(undefined, { ...host, meeting: { ...host.meeting, settings: {} }, recording: started });
    expect(running.canRecord).toBe(true);
  });

  it("sends start and stop, and waits for the node's answer before another", async () => {
    const [session, socket] = await joinedSession(undefined, host);
    session.setRecording(true);
    expect(session.recordingPending).toBe(true);
    session.setRecording(true); // pressed twice: sent once
    expect(socket.sentOf("start_recording")).toEqual([{ type: "start_recording" }]);
    socket.receive(started);
    await vi.waitFor(() => expect(session.recordingPending).toBe(false));
    expect(session.recording.active).toBe(true);
    session.setRecording(false);
    expect(socket.sentOf("stop_recording")).toEqual([{ type: "stop_recording" }]);
    socket.receive(stopped);
    await vi.waitFor(() => expect(session.recording.active).toBe(false));
    expect(session.recordingPending).toBe(false);
  });

  it.each([
    ["start_recording", "recording_disabled", "Recording is turned off for this meeting. A host can allow it in the meeting's settings."],
    ["start_recording", "already_recording", "The meeting is already being recorded."],
    ["stop_recording", "not_recording", "The meeting is not being recorded."],
    ["start_recording", "not_meeting_manager", "Only the host can do that."],
  ])("takes the refusal of %s (%s) as a recording error in plain words", async (frame, code, text) => {
    const [session, socket] = await joinedSession(undefined, host);
    session.setRecording(frame === "start_recording");
    const seen = changes(session);
    socket.refuse(frame, code, "server words");
    await vi.waitFor(() => expect(session.recordingErrors).toHaveLength(1));
    expect(session.recordingErrors[0]).toMatchObject({ code, text });
    expect(session.recordingPending).toBe(false);
    expect(session.notices.filter((notice) => notice.code)).toEqual([]); // a toast, not the room's error line
    expect(seen).toEqual(["recording"]);
  });

  it("leaves other refusals to the room's error line", async () => {
    const [session, socket] = await joinedSession(undefined, host);
    socket.refuse("chat", "chat_disabled");
    await vi.waitFor(() => expect(session.notices.at(-1)?.code).toBe("chat_disabled"));
    expect(session.recordingErrors).toEqual([]);
  });

  it("gives up waiting when the node does not answer", async () => {
    const [session, socket] = await joinedSession(undefined, host);
    vi.useFakeTimers();
    session.setRecording(true);
    expect(socket.sentOf("start_recording")).toHaveLength(1);
    vi.advanceTimersByTime(10_000);
    expect(session.recordingPending).toBe(false);
    expect(session.recordingErrors.at(-1)?.text).toBe("The media server did not answer. Try again.");
  });

  it("keeps failures for hosts, and the stop that comes with them", async () => {
    const [session, socket] = await joinedSession(undefined, { ...host, recording: started });
    socket.receive({ type: "recording_failed", recording_id: "r1", reason: "The media node stopped" });
    socket.receive(stopped);
    await vi.waitFor(() => expect(session.recording.active).toBe(false));
    expect(session.recordingFailures).toEqual([{ recordingId: "r1", reason: "The media node stopped" }]);
  });

  it("sends nothing once the meeting is left", async () => {
    const [session, socket] = await joinedSession(undefined, host);
    session.leave();
    session.setRecording(true);
    expect(socket.sentOf("start_recording")).toEqual([]);
    expect(session.recordingPending).toBe(false);
  });
});
