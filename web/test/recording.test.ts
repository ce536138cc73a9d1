// Recording in the room: the indicator's state and elapsed time, and the room page end to end
// against a scripted signaling socket (the Record button for hosts and co-hosts, the indicator
// and its announcements for everyone, refusals and failures as toasts).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { JoinTicket } from "../src/api/meetings";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";
import { elapsedSeconds, formatElapsed, NOT_RECORDING, recordingState } from "../src/room/recording";
import { RecordingIndicator } from "../src/room/recordingbadge";
import { RoomSession } from "../src/room/session";
import { renderRoom } from "../src/room/view";
import { ScriptedSocket } from "./support/socket";

const STARTED_AT = "2026-11-28T10:00:00Z";
const at = (seconds: number) => Date.parse(STARTED_AT) + seconds * 1000;
const info = { active: true, recording_id: "r1", started_by: "u1", started_at: STARTED_AT };

beforeEach(() => setLocale("en"));

describe("the recording state", () => {
  it("is off without a snapshot field, and off when inactive", () => {
    expect(recordingState(undefined, at(0))).toEqual(NOT_RECORDING);
    expect(recordingState({ active: false, recording_id: null, started_by: null, started_at: null }, at(0))).toEqual(NOT_RECORDING);
  });

  it("counts from the server's start time", () => {
    const state = recordingState(info, at(90));
    expect(state).toMatchObject({ active: true, recordingId: "r1", startedBy: "u1", startedAt: STARTED_AT });
    expect(elapsedSeconds(state, at(90))).toBe(90);
    expect(elapsedSeconds(state, at(90.9))).toBe(90); // whole seconds
  });

  it("counts from arrival when the start is missing or ahead of this clock", () => {
    const missing = recordingState({ ...info, started_at: null }, at(10));
    expect(elapsedSeconds(missing, at(12))).toBe(2);
    const ahead = recordingState(info, at(-30)); // this clock is 30 s behind the server's
    expect(elapsedSeconds(ahead, at(-30))).toBe(0);
    expect(elapsedSeconds(ahead, at(-25))).toBe(5);
    expect(elapsedSeconds(NOT_RECORDING, at(100))).toBe(0);
  });

  it("formats the elapsed time as a clock", () => {
    expect(formatElapsed(0)).toBe("0:00");
    expect(formatElapsed(5)).toBe("0:05");
    expect(formatElapsed(65)).toBe("1:05");
    expect(formatElapsed(599.9)).toBe("9:59"); // never rounded up
    expect(formatElapsed(3600)).toBe("1:00:00");
    expect(formatElapsed(3725)).toBe("1:02:05");
    expect(formatElapsed(-4)).toBe("0:00");
  });
});

describe("the recording indicator", () => {
  afterEach(() => vi.useRealTimers());

  it("shows a red dot, the word and a ticking clock that screen readers do not hear", () => {
    vi.useFakeTimers();
    vi.setSystemTime(at(5));
    const indicator = new RecordingIndicator();
    const element = indicator.element;
    expect(element.hidden).toBe(true);
    expect(element.getAttribute("role")).toBe("status");

    indicator.show(recordingState(info, Date.now()), "Ann");
    expect(element.hidden).toBe(false);
    expect(element.querySelector(".dot")!.getAttribute("aria-hidden")).toBe("true");
    expect(element.querySelector(".label")!.textContent).toBe("Recording");
    const clock = element.querySelector<HTMLTimeElement>("[data-testid=recording-elapsed]")!;
    expect(clock.getAttribute("aria-hidden")).toBe("true");
    expect(clock.dateTime).toBe(STARTED_AT);
    expect(clock.textContent).toBe("0:05");
    expect(element.title).toMatch(/^Recording since .+, started by Ann$/);

    vi.advanceTimersByTime(60_000);
    expect(clock.textContent).toBe("1:05");

    indicator.show(NOT_RECORDING, null);
    expect(element.hidden).toBe(true);
    expect(element.textContent).toBe("");
    vi.advanceTimersByTime(5000);
    expect(clock.textContent).toBe(""); // the clock stopped
  });
});

// --- the room page ---------------------------------------------------------------------------

const ticket = {
  signaling_url: "ws://node.test/ws/signaling",
  join_token: "a-join-token-for-tests",
  participant_id: "p1",
  role: "host",
  ice_servers: [],
  meeting: { id: "m1", title: "Standup" },
} as unknown as JoinTicket;

const person = (user_id: string, display_name: string, role: string) => ({
  user_id,
  participant_id: `p-${user_id}`,
  display_name,
  role,
  audio_muted: false,
  video_muted: false,
  hand_raised: false,
  joined_at: "2026-11-28T10:00:00Z",
  tracks: [],
});

function snapshot(role: string, settings: Record<string, unknown>, recording?: Record<string, unknown>) {
  return {
    type: "joined",
    v: 1,
    me: person("u1", "Ann", role),
    participants: [person("u2", "Bob", "host")],
    meeting: { id: "m1", title: "Standup", settings },
    ice_servers: [],
    ...(recording ? { recording } : {}),
  };
}

async function room(frame: Record<string, unknown>): Promise<[HTMLElement, RoomSession, ScriptedSocket]> {
  const root = document.createElement("div");
  document.body.append(root);
  const session = new RoomSession(ticket, { audio: false, video: false }, { mic: false, camera: false });
  renderRoom(root, session, () => undefined);
  const started = session.start();
  await vi.waitFor(() => expect(ScriptedSocket.last?.sent[0]).toBeDefined());
  const socket = ScriptedSocket.last!;
  socket.receive(frame);
  await started;
  return [root, session, socket];
}

const byTestId = <T extends HTMLElement = HTMLElement>(root: HTMLElement, id: string) =>
  root.querySelector<T>(`[data-testid="${id}"]`)!;

describe("recording in the room", () => {
  beforeEach(() => {
    localStorage.clear();
    vi.stubGlobal("WebSocket", ScriptedSocket);
    Object.defineProperty(navigator, "mediaDevices", {
      configurable: true,
      value: { getUserMedia: () => Promise.reject(new Error("no devices")), enumerateDevices: async () => [] },
    });
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ items: [], next_before: null }))));
  });
  afterEach(() => {
    ScriptedSocket.last?.close();
    vi.unstubAllGlobals();
    vi.useRealTimers();
    document.body.replaceChildren();
    localStorage.clear();
  });

  it("lets a host start recording, waits for the node, then shows it to everyone", async () => {
    const [root, , socket] = await room(snapshot("host", { recording: true }, { active: false, recording_id: null, started_by: null, started_at: null }));
    const record = byTestId<HTMLButtonElement>(root, "toggle-recording");
    const indicator = byTestId(root, "recording-indicator");
    expect(record.hidden).toBe(false);
    expect(record.textContent).toBe("Start recording");
    expect(record.getAttribute("aria-pressed")).toBe("false");
    expect(indicator.hidden).toBe(true);
    expect(byTestId(root, "room-announcer").textContent).toBe(""); // nothing to say on joining

    record.click();
    expect(socket.sentOf("start_recording")).toEqual([{ type: "start_recording" }]);
    expect(record.disabled).toBe(true); // until the node answers
    expect(record.getAttribute("aria-busy")).toBe("true");

    socket.receive({ type: "recording", active: true, recording_id: "r1", started_by: "u1", started_at: new Date().toISOString() });
    await vi.waitFor(() => expect(indicator.hidden).toBe(false));
    expect(indicator.getAttribute("role")).toBe("status");
    expect(indicator.textContent).toContain("Recording");
    expect(byTestId(root, "recording-elapsed").textContent).toBe("0:00");
    expect(byTestId(root, "room-announcer").textContent).toBe("You started recording the meeting.");
    expect(record.disabled).toBe(false);
    expect(record.hasAttribute("aria-busy")).toBe(false);
    expect(record.textContent).toBe("Stop recording");
    expect(record.getAttribute("aria-pressed")).toBe("true");

    record.click();
    expect(socket.sentOf("stop_recording")).toEqual([{ type: "stop_recording" }]);
    socket.receive({ type: "recording", active: false, recording_id: null, started_by: null, started_at: null });
    await vi.waitFor(() => expect(indicator.hidden).toBe(true));
    expect(byTestId(root, "room-announcer").textContent).toBe("Recording stopped.");
    expect(record.textContent).toBe("Start recording");
  });

  it("shows a recording that runs from the snapshot to a participant, who cannot stop it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(at(125));
    const [root, , socket] = await room(snapshot("participant", { recording: true }, { ...info, started_by: "u2" }));
    const indicator = byTestId(root, "recording-indicator");
    expect(indicator.hidden).toBe(false);
    expect(byTestId(root, "recording-elapsed").textContent).toBe("2:05");
    expect(indicator.title).toContain("started by Bob");
    expect(byTestId(root, "room-announcer").textContent).toBe("This meeting is being recorded.");
    expect(byTestId(root, "toggle-recording").hidden).toBe(true);

    socket.receive({ type: "recording", active: false, recording_id: null, started_by: null, started_at: null });
    await vi.waitFor(() => expect(indicator.hidden).toBe(true));
    expect(byTestId(root, "room-announcer").textContent).toBe("Recording stopped.");
    socket.receive({ type: "recording", active: true, recording_id: "r2", started_by: "u2", started_at: new Date().toISOString() });
    await vi.waitFor(() => expect(indicator.hidden).toBe(false));
    expect(byTestId(root, "room-announcer").textContent).toBe("Bob started recording the meeting.");
  });

  it("offers no Record button where the meeting does not allow recording, nor on older servers", async () => {
    const [root] = await room(snapshot("host", { recording: false }));
    expect(byTestId(root, "toggle-recording").hidden).toBe(true);
    expect(byTestId(root, "recording-indicator").hidden).toBe(true); // no snapshot field: not recording
  });

  it("offers it to co-hosts", async () => {
    const [root] = await room(snapshot("co_host", { recording: true }));
    expect(byTestId(root, "toggle-recording").hidden).toBe(false);
  });

  it("tells a refusal in a toast, in plain words, and lets the host try again", async () => {
    const [root, , socket] = await room(snapshot("host", { recording: true }));
    const record = byTestId<HTMLButtonElement>(root, "toggle-recording");
    record.click();
    socket.refuse("start_recording", "recording_disabled", "recording is off");
    await vi.waitFor(() => expect(byTestId(root, "toast-recording-error")).not.toBeNull());
    expect(byTestId(root, "toast-recording-error").textContent).toContain(
      "Recording is turned off for this meeting. A host can allow it in the meeting's settings.",
    );
    expect(byTestId(root, "room-error").dataset.code).toBeUndefined(); // not the room's error line
    expect(record.disabled).toBe(false);
    expect(record.textContent).toBe("Start recording");
  });

  it("tells hosts when a recording failed, with the reason", async () => {
    const [root, , socket] = await room(snapshot("host", { recording: true }, info));
    socket.receive({ type: "recording_failed", recording_id: "r1", reason: "The media node stopped." });
    socket.receive({ type: "recording", active: false, recording_id: null, started_by: null, started_at: null });
    await vi.waitFor(() => expect(byTestId(root, "toast-recording-failed")).not.toBeNull());
    expect(byTestId(root, "toast-recording-failed").textContent).toContain("The recording failed: The media node stopped.");
    expect(byTestId(root, "recording-indicator").hidden).toBe(true);
  });

  it("hides the indicator once the meeting is left", async () => {
    const [root, session] = await room(snapshot("participant", {}, info));
    expect(byTestId(root, "recording-indicator").hidden).toBe(false);
    session.leave();
    expect(byTestId(root, "recording-indicator").hidden).toBe(true);
  });
});
