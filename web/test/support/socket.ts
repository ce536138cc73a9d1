// A scripted signaling socket for tests: records what the client sends, and delivers the frames
// and closes a test scripts. Stub it in with `vi.stubGlobal("WebSocket", ScriptedSocket)`.

export class ScriptedSocket {
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
  /** The frames of one type this client sent. */
  sentOf(type: string): Record<string, unknown>[] {
    return this.sent.filter((frame) => frame.type === type);
  }
  receive(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  /** The node refuses the frame of type `inReplyTo` (an `error` frame). */
  refuse(inReplyTo: string | null, code: string, message = code): void {
    this.receive({ type: "error", code, message, in_reply_to: inReplyTo });
  }
  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}
