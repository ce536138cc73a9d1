// The room page with the AI features, end to end against a scripted signaling socket and a fake
// API: captions and their switch, the AI options (emotion cues, chat read aloud), announcements.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { JoinTicket } from "../src/api/meetings";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";
import { RoomSession } from "../src/room/session";
import { renderRoom } from "../src/room/view";
import { ScriptedSocket } from "./support/socket";

/** `new Audio(url)`: records what was played; each sound ends when the test says so. */
class FakeAudio extends EventTarget {
  static played: FakeAudio[] = [];
  constructor(readonly src: string) {
    super();
  }
  play(): Promise<void> {
    FakeAudio.played.push(this);
    return Promise.resolve();
  }
  pause(): void {}
  removeAttribute(): void {}
  end(): void {
    this.dispatchEvent(new Event("ended"));
  }
}

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

function snapshot(ai: boolean, role = "host") {
  return {
    type: "joined",
    v: 1,
    me: person("u1", "Ann", role),
    participants: [person("u2", "Bob", "participant")],
    meeting: { id: "m1", title: "Standup", settings: { ai, ai_language: "auto" } },
    ice_servers: [],
  };
}

const wav = () => new Response(new Uint8Array([82, 73, 70, 70]), { status: 200, headers: { "Content-Type": "audio/wav" } });

async function room(ai: boolean, role = "host"): Promise<[HTMLElement, RoomSession, ScriptedSocket]> {
  const root = document.createElement("div");
  document.body.append(root);
  const session = new RoomSession(ticket, { audio: false, video: false }, { mic: false, camera: false });
  renderRoom(root, session, () => undefined);
  const started = session.start();
  await vi.waitFor(() => expect(ScriptedSocket.last?.sent[0]).toBeDefined());
  const socket = ScriptedSocket.last!;
  socket.receive(snapshot(ai, role));
  await started;
  return [root, session, socket];
}

const byTestId = <T extends HTMLElement = HTMLElement>(root: HTMLElement, id: string) =>
  root.querySelector<T>(`[data-testid="${id}"]`)!;

describe("the room's AI features", () => {
  let fetch: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    setLocale("en");
    localStorage.clear();
    FakeAudio.played = [];
    vi.stubGlobal("WebSocket", ScriptedSocket);
    vi.stubGlobal("Audio", FakeAudio);
    Object.defineProperty(navigator, "mediaDevices", {
      configurable: true,
      value: { getUserMedia: () => Promise.reject(new Error("no devices")), enumerateDevices: async () => [] },
    });
    URL.createObjectURL = vi.fn(() => "blob:speech");
    URL.revokeObjectURL = vi.fn();
    fetch = vi.fn(async (url: string) => {
      if (url.startsWith("/api/v1/ai/synthesis")) return wav();
      if (url.includes("/messages")) return new Response(JSON.stringify({ items: [], next_before: null }));
      return new Response(JSON.stringify({ meeting_id: "m1", lines: [] }));
    });
    vi.stubGlobal("fetch", fetch);
  });
  afterEach(() => {
    ScriptedSocket.last?.close();
    vi.unstubAllGlobals();
    document.body.replaceChildren();
    localStorage.clear();
  });

  it("hides them all in a meeting without AI", async () => {
    const [root] = await room(false);
    for (const id of ["toggle-captions", "toggle-transcript", "toggle-ai"]) expect(byTestId(root, id).hidden).toBe(true);
    expect(byTestId(root, "captions").hidden).toBe(true);
    expect(byTestId(root, "toggle-announce").hidden).toBe(false); // announcing is the host's, AI or not
  });

  it("shows captions over the stage and hides them with the CC button, remembered", async () => {
    const [root, , socket] = await room(true);
    const strip = byTestId(root, "captions");
    expect(strip.hidden).toBe(false);
    expect(strip.closest(".stage")).not.toBeNull();
    socket.receive({
      type: "caption",
      id: "c1",
      user_id: "u2",
      display_name: "Bob",
      text: "Morning all",
      started_at: "2026-11-28T10:00:01Z",
      ended_at: "2026-11-28T10:00:02Z",
      language: "en",
      emotion: null,
    });
    await vi.waitFor(() => expect(strip.textContent).toContain("Morning all"));
    expect(strip.querySelector("strong")!.textContent).toBe("Bob");

    const cc = byTestId<HTMLButtonElement>(root, "toggle-captions");
    expect(cc.getAttribute("aria-pressed")).toBe("true");
    cc.click();
    expect(strip.hidden).toBe(true);
    expect(cc.getAttribute("aria-pressed")).toBe("false");
    expect(localStorage.getItem("meeting.room.captions")).toBe("false");
  });

  it("opens the transcript panel from the controls and closes it with Escape", async () => {
    const [root] = await room(true);
    const toggle = byTestId<HTMLButtonElement>(root, "toggle-transcript");
    toggle.click();
    const panel = byTestId(root, "transcript-panel");
    expect(panel.hidden).toBe(false);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    await vi.waitFor(() => expect(fetch.mock.calls.some(([url]) => String(url).includes("/transcript?format=json"))).toBe(true));
    expect(document.activeElement).toBe(byTestId(root, "transcript-search"));
    panel.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(panel.hidden).toBe(true);
    expect(document.activeElement).toBe(toggle);
  });

  it("turns emotion cues off here and for one's own face, remembered", async () => {
    const [root, session, socket] = await room(true);
    const menuButton = byTestId<HTMLButtonElement>(root, "toggle-ai");
    menuButton.click();
    const menu = byTestId(root, "ai-menu");
    expect(menu.hidden).toBe(false);
    const cues = byTestId<HTMLInputElement>(root, "ai-emotion-cues");
    expect(document.activeElement).toBe(cues);
    expect(cues.getAttribute("role")).toBe("switch");
    cues.checked = false;
    cues.dispatchEvent(new Event("change"));
    expect(socket.sentOf("set_emotion_cues")).toEqual([{ type: "set_emotion_cues", enabled: false }]);
    expect(session.emotionCues).toBe(false);
    expect(byTestId(root, "room").dataset.cues).toBe("off");
    expect(localStorage.getItem("meeting.room.emotionCues")).toBe("false");
    menu.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(menu.hidden).toBe(true);
    expect(document.activeElement).toBe(menuButton);
  });

  it("reads others' chat messages aloud while the switch is on", async () => {
    const [root, , socket] = await room(true);
    byTestId<HTMLButtonElement>(root, "toggle-ai").click();
    const read = byTestId<HTMLInputElement>(root, "ai-read-aloud");
    read.checked = true;
    read.dispatchEvent(new Event("change"));
    expect(localStorage.getItem("meeting.room.readAloud")).toBe("true");
    const chat = (id: string, user: string, body: string) =>
      socket.receive({ type: "chat", id, sender: { user_id: user, display_name: user }, body, created_at: "2026-11-28T10:00:05Z" });
    chat("m1", "u1", "my own words"); // never read back to oneself
    chat("m2", "u2", "Hello Ann");
    await vi.waitFor(() => expect(FakeAudio.played).toHaveLength(1));
    const synthesis = fetch.mock.calls.filter(([url]) => url === "/api/v1/ai/synthesis");
    expect(synthesis).toHaveLength(1);
    expect(JSON.parse((synthesis[0]![1] as RequestInit).body as string)).toEqual({ text: "Hello Ann" });
    expect(FakeAudio.played[0]!.src).toBe("blob:speech");
  });

  it("tells once when chat cannot be read aloud", async () => {
    fetch.mockImplementation(async (url: string) =>
      url.startsWith("/api/v1/ai/synthesis")
        ? new Response(JSON.stringify({ code: "service_unavailable", detail: "busy" }), { status: 503, headers: { "Retry-After": "5" } })
        : new Response(JSON.stringify({ items: [], next_before: null })),
    );
    localStorage.setItem("meeting.room.readAloud", "true");
    const [root, , socket] = await room(true);
    for (const id of ["m1", "m2", "m3"]) {
      socket.receive({ type: "chat", id, sender: { user_id: "u2", display_name: "Bob" }, body: id, created_at: "2026-11-28T10:00:05Z" });
    }
    await vi.waitFor(() => expect(fetch.mock.calls.filter(([url]) => url === "/api/v1/ai/synthesis")).toHaveLength(3));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const toasts = [...root.querySelectorAll("[data-testid=toast]")].map((toast) => toast.textContent);
    expect(toasts).toHaveLength(1);
    expect(toasts[0]).toContain("Chat cannot be read aloud right now: The service is temporarily unavailable.");
  });

  it("lets a host announce, and shows and plays every announcement", async () => {
    const [root, , socket] = await room(true);
    const toggle = byTestId<HTMLButtonElement>(root, "toggle-announce");
    expect(toggle.hidden).toBe(false);
    toggle.click();
    const form = byTestId<HTMLFormElement>(root, "announce-form");
    expect(form.hidden).toBe(false);
    const text = byTestId<HTMLTextAreaElement>(root, "announce-text");
    expect(document.activeElement).toBe(text);
    expect(text.maxLength).toBe(500);
    text.value = " Break until 11 ";
    form.dispatchEvent(new Event("submit", { cancelable: true }));
    expect(socket.sentOf("announce")).toEqual([{ type: "announce", text: "Break until 11" }]);
    expect(form.hidden).toBe(true);
    expect(text.value).toBe("");

    socket.receive({
      type: "announcement",
      id: "a1",
      user_id: "u1",
      display_name: "Ann",
      text: "Break until 11",
      audio_url: "https://media.test/a1.wav",
    });
    await vi.waitFor(() => expect(byTestId(root, "toast-announcement")).not.toBeNull());
    expect(byTestId(root, "toast-announcement").textContent).toContain("Announcement from Ann: Break until 11");
    expect(FakeAudio.played.map((audio) => audio.src)).toEqual(["https://media.test/a1.wav"]);
  });

  it("offers announcing to hosts and co-hosts only", async () => {
    const [root] = await room(true, "participant");
    expect(byTestId(root, "toggle-announce").hidden).toBe(true);
  });
});
