// The room's signaling state machine against a scripted socket: joining, failing to join, and
// which endings bring a rejoin (the join page reconnects when `reconnectable` says so).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";
import type { JoinTicket } from "../src/api/meetings";
import { RoomSession } from "../src/room/session";

class ScriptedSocket {
  static last: ScriptedSocket | null = null;
  static readonly OPEN = 1;
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;

  constructor(readonly url: string) {
    ScriptedSocket.last = this;
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.();
    });
  }
  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close(): void {
    this.readyState = 3;
  }
  receive(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
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

async function joinedSession(): Promise<[RoomSession, ScriptedSocket]> {
  // No camera or microphone in this environment: the session goes on without them.
  const session = new RoomSession(ticket, { audio: false, video: false }, { mic: false, camera: false });
  const started = session.start();
  await vi.waitFor(() => expect(ScriptedSocket.last?.sent[0]).toBeDefined());
  const socket = ScriptedSocket.last!;
  socket.receive(joined);
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
