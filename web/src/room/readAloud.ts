// Chat read aloud: each message is synthesized and played in turn, one at a time. When messages
// come faster than they can be spoken, the oldest waiting ones are skipped so that what is heard
// stays close to the conversation. Switching it off stops at once. A failure (the synthesizer
// unavailable, rate limited) is reported once per switching on, not for every message. The
// synthesizer and the player are passed in (tests use fakes; the room uses the API and <audio>).

export type Synthesizer = (text: string, signal: AbortSignal) => Promise<Blob>;

export interface Player {
  /** Play the sound; resolves when it has ended (or was stopped). */
  play(sound: Blob): Promise<void>;
  /** Stop what is playing now. */
  stop(): void;
}

/** At most this many messages wait their turn. */
export const READ_ALOUD_WAITING = 5;

export class ReadAloudQueue {
  private on = false;
  private readonly waiting: string[] = [];
  private running = false;
  private abort: AbortController | null = null;
  private reported = false;
  /** Messages skipped because too many were waiting (for tests and diagnostics). */
  skipped = 0;

  constructor(
    private readonly synthesize: Synthesizer,
    private readonly player: Player,
    private readonly onError: (error: unknown) => void,
    private readonly max = READ_ALOUD_WAITING,
  ) {}

  get enabled(): boolean {
    return this.on;
  }

  /** How many messages wait their turn (not counting the one being spoken). */
  get pending(): number {
    return this.waiting.length;
  }

  setEnabled(on: boolean): void {
    if (on === this.on) return;
    this.on = on;
    if (on) {
      this.reported = false;
      return;
    }
    this.waiting.length = 0;
    this.abort?.abort();
    this.abort = null;
    this.player.stop();
  }

  /** A new message to speak (ignored while switched off). */
  push(text: string): void {
    const words = text.trim();
    if (!this.on || !words) return;
    this.waiting.push(words);
    while (this.waiting.length > this.max) {
      this.waiting.shift();
      this.skipped += 1;
    }
    if (!this.running) void this.run();
  }

  /** Resolves once nothing is waiting or playing (tests). */
  async idle(): Promise<void> {
    while (this.running) await new Promise((resolve) => setTimeout(resolve, 0));
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      let text: string | undefined;
      while (this.on && (text = this.waiting.shift()) !== undefined) {
        const abort = (this.abort = new AbortController());
        try {
          const sound = await this.synthesize(text, abort.signal);
          if (abort.signal.aborted || !this.on) break;
          await this.player.play(sound);
        } catch (error) {
          if (abort.signal.aborted || !this.on) break; // switched off meanwhile: not a failure
          if (!this.reported) {
            this.reported = true;
            this.onError(error);
          }
        } finally {
          if (this.abort === abort) this.abort = null;
        }
      }
    } finally {
      this.running = false;
    }
    // switched off and on again while the last one was cut short: carry on with the new ones
    if (this.on && this.waiting.length > 0) void this.run();
  }
}
