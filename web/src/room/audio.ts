// Sounds the room plays besides the participants' voices: synthesized speech (chat read aloud,
// from bytes) and announcements (from a short-lived URL). Each player plays one sound at a time.

import type { Player } from "./readAloud";

export class AudioPlayer implements Player {
  private current: { audio: HTMLAudioElement; done: () => void } | null = null;

  /** Play WAV bytes; resolves when they have ended, failed to play or were stopped. */
  play(sound: Blob): Promise<void> {
    const url = URL.createObjectURL(sound);
    return this.playUrl(url).finally(() => URL.revokeObjectURL(url));
  }

  /** Play what `url` points to (the browser fetches it); rejects when it cannot be played. */
  playUrl(url: string): Promise<void> {
    this.stop();
    return new Promise<void>((resolve, reject) => {
      const audio = new Audio(url);
      const done = () => {
        if (this.current?.audio === audio) this.current = null;
        resolve();
      };
      this.current = { audio, done };
      audio.addEventListener("ended", done, { once: true });
      audio.addEventListener(
        "error",
        () => {
          if (this.current?.audio === audio) this.current = null;
          reject(new Error("the sound could not be played"));
        },
        { once: true },
      );
      audio.play().catch((error: unknown) => {
        if (this.current?.audio === audio) this.current = null;
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }

  stop(): void {
    const current = this.current;
    if (!current) return;
    this.current = null;
    current.audio.pause();
    current.audio.removeAttribute("src");
    current.done();
  }
}
