// The AI features' logic without the DOM: the caption strip's buffer, transcript merging and
// file names, the read-aloud queue, emotion cues, the switches this browser remembers, and the
// REST calls.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { synthesize, transcript, transcriptFile, type TranscriptLine } from "../src/api/ai";
import { ApiError } from "../src/api/http";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";
import { CaptionBuffer } from "../src/room/captions";
import { describeCue, EmotionBoard, emotionEmoji, emotionName } from "../src/room/emotion";
import { preference, savePreference } from "../src/room/prefs";
import { ReadAloudQueue, type Player } from "../src/room/readAloud";
import { lineOf, matchesSearch, mergeTranscript, transcriptFileName } from "../src/room/transcript";

const line = (id: string, user: string, text = id, at = "2026-11-28T10:00:00Z"): TranscriptLine => ({
  id,
  user_id: user,
  display_name: user.toUpperCase(),
  text,
  started_at: at,
  ended_at: at,
  language: "en",
  emotion: null,
});

describe("the caption strip's buffer", () => {
  it("shows the latest lines, oldest first, one per speaker", () => {
    const buffer = new CaptionBuffer(3, 6000);
    buffer.add(line("a1", "ann"), 0);
    buffer.add(line("b1", "bob"), 100);
    buffer.add(line("a2", "ann"), 200); // replaces Ann's first line and goes last
    expect(buffer.visible(300).map((l) => l.id)).toEqual(["b1", "a2"]);
  });

  it("keeps at most a few lines, dropping the oldest", () => {
    const buffer = new CaptionBuffer(3, 6000);
    for (const [index, user] of ["ann", "bob", "cy", "dee"].entries()) buffer.add(line(user, user), index);
    expect(buffer.visible(10).map((l) => l.id)).toEqual(["bob", "cy", "dee"]);
  });

  it("lets each line fade on its own time and says when the next goes", () => {
    const buffer = new CaptionBuffer(3, 6000);
    buffer.add(line("a1", "ann"), 1000);
    buffer.add(line("b1", "bob"), 4000);
    expect(buffer.nextExpiry()).toBe(7000);
    expect(buffer.visible(6999).map((l) => l.id)).toEqual(["a1", "b1"]);
    expect(buffer.visible(7000).map((l) => l.id)).toEqual(["b1"]);
    expect(buffer.nextExpiry()).toBe(10_000);
    expect(buffer.visible(10_000)).toEqual([]);
    expect(buffer.nextExpiry()).toBeNull();
  });

  it("restarts a speaker's time with their new line", () => {
    const buffer = new CaptionBuffer(3, 6000);
    buffer.add(line("a1", "ann"), 0);
    buffer.add(line("a2", "ann"), 5000);
    expect(buffer.visible(8000).map((l) => l.id)).toEqual(["a2"]);
  });
});

describe("the transcript", () => {
  it("merges loaded and live lines once each, oldest first", () => {
    const live = [line("c", "ann", "c", "2026-11-28T10:02:00Z"), line("b", "bob", "b (live)", "2026-11-28T10:01:00Z")];
    const loaded = [line("a", "ann", "a", "2026-11-28T10:00:00Z"), line("b", "bob", "b", "2026-11-28T10:01:00+00:00")];
    const merged = mergeTranscript(live, loaded);
    expect(merged.map((l) => l.id)).toEqual(["a", "b", "c"]);
    expect(merged[1]!.text).toBe("b"); // the later source's copy wins
  });

  it("orders lines that start together by id", () => {
    const at = "2026-11-28T10:00:00Z";
    expect(mergeTranscript([line("y", "u", "y", at)], [line("x", "u", "x", at)]).map((l) => l.id)).toEqual(["x", "y"]);
  });

  it("reads a caption frame as a line", () => {
    const frame = { type: "caption" as const, ...line("a", "ann") };
    expect(lineOf(frame)).toEqual(line("a", "ann"));
  });

  it("keeps live lines that contain every searched word", () => {
    const said = line("a", "ann", "The Budget for next year");
    expect(matchesSearch(said, "")).toBe(true);
    expect(matchesSearch(said, "budget")).toBe(true);
    expect(matchesSearch(said, "  YEAR   budget ")).toBe(true);
    expect(matchesSearch(said, "budget cuts")).toBe(false);
  });

  it("names downloads after the meeting", () => {
    expect(transcriptFileName("Weekly sync", "vtt")).toBe("transcript-Weekly-sync.vtt");
    expect(transcriptFileName("Weekly sync", "text")).toBe("transcript-Weekly-sync.txt");
    expect(transcriptFileName('Q3/Q4: "plans" ?', "vtt")).toBe("transcript-Q3-Q4-plans.vtt");
    expect(transcriptFileName("周会 计划", "text")).toBe("transcript-周会-计划.txt");
    expect(transcriptFileName("  ..  ", "vtt")).toBe("transcript-meeting.vtt");
    expect(transcriptFileName("", "text")).toBe("transcript-meeting.txt");
    expect(transcriptFileName("x".repeat(300), "vtt")).toBe(`transcript-${"x".repeat(80)}.vtt`);
  });
});

/** A synthesizer and a player that finish only when told to. */
function fakes() {
  const requests: { text: string; signal: AbortSignal; resolve: (b: Blob) => void; reject: (e: unknown) => void }[] = [];
  const synthesize = vi.fn(
    (text: string, signal: AbortSignal) =>
      new Promise<Blob>((resolve, reject) => {
        requests.push({ text, signal, resolve, reject });
        signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      }),
  );
  const playing: { sound: Blob; done: () => void }[] = [];
  const player: Player & { stop: ReturnType<typeof vi.fn> } = {
    play: vi.fn((sound: Blob) => new Promise<void>((done) => playing.push({ sound, done }))),
    stop: vi.fn(() => {
      for (const entry of playing.splice(0)) entry.done();
    }),
  };
  const errors: unknown[] = [];
  return { requests, synthesize, playing, player, errors, onError: (e: unknown) => errors.push(e) };
}

const sound = (text: string) => new Blob([text], { type: "audio/wav" });
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("chat read aloud", () => {
  it("speaks messages in order, one at a time", async () => {
    const f = fakes();
    const queue = new ReadAloudQueue(f.synthesize, f.player, f.onError);
    queue.setEnabled(true);
    queue.push("first");
    queue.push("second");
    await settle();
    expect(f.requests.map((r) => r.text)).toEqual(["first"]); // the next waits its turn
    f.requests[0]!.resolve(sound("first"));
    await settle();
    expect(f.player.play).toHaveBeenCalledTimes(1);
    expect(f.requests).toHaveLength(1); // still playing: nothing else is synthesized yet
    f.playing.shift()!.done();
    await settle();
    expect(f.requests.map((r) => r.text)).toEqual(["first", "second"]);
    f.requests[1]!.resolve(sound("second"));
    await settle();
    f.playing.shift()!.done();
    await queue.idle();
    expect(f.errors).toEqual([]);
  });

  it("ignores messages while off, and empty ones", async () => {
    const f = fakes();
    const queue = new ReadAloudQueue(f.synthesize, f.player, f.onError);
    queue.push("not heard");
    queue.setEnabled(true);
    queue.push("   ");
    await settle();
    expect(f.synthesize).not.toHaveBeenCalled();
  });

  it("skips the oldest waiting messages when too many wait", async () => {
    const f = fakes();
    const queue = new ReadAloudQueue(f.synthesize, f.player, f.onError, 5);
    queue.setEnabled(true);
    for (let n = 1; n <= 8; n++) queue.push(`m${n}`);
    await settle();
    expect(f.requests.map((r) => r.text)).toEqual(["m1"]); // m1 is being spoken
    expect(queue.pending).toBe(5); // m2 and m3 were skipped
    expect(queue.skipped).toBe(2);
    const heard: string[] = ["m1"];
    f.requests[0]!.resolve(sound("m1"));
    for (let turn = 1; turn <= 5; turn++) {
      await settle();
      f.playing.shift()!.done();
      await settle();
      heard.push(f.requests[turn]!.text);
      f.requests[turn]!.resolve(sound(f.requests[turn]!.text));
    }
    await settle();
    f.playing.shift()!.done();
    await queue.idle();
    expect(heard).toEqual(["m1", "m4", "m5", "m6", "m7", "m8"]);
  });

  it("stops at once when switched off: the sound, the request and what waits", async () => {
    const f = fakes();
    const queue = new ReadAloudQueue(f.synthesize, f.player, f.onError);
    queue.setEnabled(true);
    queue.push("one");
    queue.push("two");
    await settle();
    f.requests[0]!.resolve(sound("one"));
    await settle();
    expect(f.playing).toHaveLength(1);
    queue.setEnabled(false);
    expect(f.player.stop).toHaveBeenCalled();
    await queue.idle();
    expect(f.requests).toHaveLength(1); // "two" was never synthesized
    expect(queue.pending).toBe(0);

    // switched off while a message is being synthesized: the request is cancelled, no error
    queue.setEnabled(true);
    queue.push("three");
    await settle();
    queue.setEnabled(false);
    expect(f.requests[1]!.signal.aborted).toBe(true);
    await queue.idle();
    expect(f.player.play).toHaveBeenCalledTimes(1);
    expect(f.errors).toEqual([]);
  });

  it("reports failures once, not per message, and again after switching on anew", async () => {
    const f = fakes();
    const queue = new ReadAloudQueue(f.synthesize, f.player, f.onError);
    queue.setEnabled(true);
    queue.push("a");
    queue.push("b");
    queue.push("c");
    const unavailable = new ApiError(503, "service_unavailable", "unavailable", [], 30);
    for (let n = 0; n < 3; n++) {
      await settle();
      f.requests[n]!.reject(unavailable);
    }
    await queue.idle();
    expect(f.errors).toEqual([unavailable]);
    expect(f.requests.map((r) => r.text)).toEqual(["a", "b", "c"]); // it kept trying the next ones
    queue.setEnabled(false);
    queue.setEnabled(true);
    queue.push("d");
    await settle();
    f.requests[3]!.reject(unavailable);
    await queue.idle();
    expect(f.errors).toHaveLength(2);
  });

  it("goes on with the next message when a sound cannot be played", async () => {
    const f = fakes();
    f.player.play = vi.fn(async () => Promise.reject(new Error("autoplay refused")));
    const queue = new ReadAloudQueue(f.synthesize, f.player, f.onError);
    queue.setEnabled(true);
    queue.push("a");
    queue.push("b");
    await settle();
    f.requests[0]!.resolve(sound("a"));
    await settle();
    await settle();
    f.requests[1]!.resolve(sound("b"));
    await queue.idle();
    expect(f.player.play).toHaveBeenCalledTimes(2);
    expect(f.errors).toHaveLength(1);
  });
});

describe("emotion cues", () => {
  beforeEach(() => setLocale("en"));

  it("keep each person's latest cue until none came for a while", () => {
    const board = new EmotionBoard(5000);
    board.set("ann", { label: "happy", score: 0.8 }, 1000);
    board.set("bob", { label: "sad", score: 0.6 }, 2000);
    board.set("ann", { label: "surprise", score: 0.7 }, 3000); // a newer cue restarts the time
    expect(board.get("ann", 7999)).toEqual({ label: "surprise", score: 0.7 });
    expect(board.nextExpiry(3000)).toBe(7000);
    expect(board.get("bob", 7000)).toBeNull();
    expect(board.nextExpiry(7000)).toBe(8000);
    expect(board.nextExpiry(8000)).toBeNull(); // Ann's went unasked: no timer for it
    expect(board.get("ann", 8000)).toBeNull();
    expect(board.get("nobody", 0)).toBeNull();
  });

  it("forget someone who left", () => {
    const board = new EmotionBoard();
    board.set("ann", { label: "happy", score: 1 }, 0);
    board.delete("ann");
    expect(board.get("ann", 1)).toBeNull();
  });

  it("read as an emoji and a word in the reader's language", () => {
    expect(emotionEmoji("happy")).toBe("😄");
    expect(emotionEmoji("negative")).toBe("🙁");
    expect(emotionEmoji("bored")).toBe("");
    expect(emotionName("surprise")).toBe("Surprised");
    expect(emotionName("bored")).toBe("bored");
    expect(describeCue("face", "happy", 0.804)).toBe("Expression: Happy (80 %)");
    expect(describeCue("text", "positive", 1.7)).toBe("Tone: Positive (100 %)");
    setLocale("zh-CN");
    expect(describeCue("face", "sad", 0.5)).toBe("表情：难过（50%）");
  });
});

describe("the room's remembered switches", () => {
  afterEach(() => localStorage.clear());

  it("default to captions and cues on, reading aloud off, and remember changes", () => {
    localStorage.clear();
    expect([preference("captions"), preference("emotionCues"), preference("readAloud")]).toEqual([true, true, false]);
    savePreference("emotionCues", false);
    savePreference("readAloud", true);
    expect([preference("emotionCues"), preference("readAloud")]).toEqual([false, true]);
  });
});

describe("the AI API", () => {
  beforeEach(() => {
    setLocale("en");
    document.cookie = "csrf_token=abc";
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    document.cookie = "csrf_token=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
  });

  const call = (fetch: ReturnType<typeof vi.fn>, n = 0) => fetch.mock.calls[n] as unknown as [string, RequestInit];

  it("loads the transcript as JSON, searched", async () => {
    const body = { meeting_id: "m 1", lines: [line("a", "ann")] };
    const fetch = vi.fn(async () => new Response(JSON.stringify(body), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    expect(await transcript("m 1", " budget cuts ")).toEqual(body);
    expect(call(fetch)[0]).toBe("/api/v1/meetings/m%201/transcript?format=json&q=budget+cuts");
    await transcript("m1");
    expect(call(fetch, 1)[0]).toBe("/api/v1/meetings/m1/transcript?format=json");
  });

  it("downloads the transcript as bytes of the asked type", async () => {
    const fetch = vi.fn(async () => new Response("WEBVTT\n\n", { status: 200, headers: { "Content-Type": "text/vtt" } }));
    vi.stubGlobal("fetch", fetch);
    const file = await transcriptFile("m1", "vtt");
    expect(await file.text()).toBe("WEBVTT\n\n");
    expect(call(fetch)[0]).toBe("/api/v1/meetings/m1/transcript?format=vtt");
    expect((call(fetch)[1].headers as Record<string, string>).Accept).toBe("text/vtt");
  });

  it("synthesizes speech with the CSRF header and answers WAV bytes", async () => {
    const fetch = vi.fn(async () => new Response(new Uint8Array([82, 73, 70, 70]), { status: 200, headers: { "Content-Type": "audio/wav" } }));
    vi.stubGlobal("fetch", fetch);
    const wav = await synthesize("Hello", 1.25);
    expect(new Uint8Array(await wav.arrayBuffer())).toEqual(new Uint8Array([82, 73, 70, 70]));
    const [url, init] = call(fetch);
    expect(url).toBe("/api/v1/ai/synthesis");
    expect(init.method).toBe("POST");
    expect(JSON.parse(init.body as string)).toEqual({ text: "Hello", speed: 1.25 });
    expect((init.headers as Record<string, string>)["X-CSRF-Token"]).toBe("abc");
    await synthesize("Hi");
    expect(JSON.parse(call(fetch, 1)[1].body as string)).toEqual({ text: "Hi" });
  });

  it("turns a busy synthesizer into an error with its Retry-After", async () => {
    const problem = { code: "service_unavailable", detail: "The speech synthesizer is busy" };
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response(JSON.stringify(problem), { status: 503, headers: { "Retry-After": "12" } })),
    );
    await expect(synthesize("Hello")).rejects.toMatchObject({ status: 503, code: "service_unavailable", retryAfter: 12 });
  });
});
