// The AI features as the room draws them: the caption strip, emotion badges on tiles, the
// transcript panel, and the meeting form's AI settings.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TranscriptLine } from "../src/api/ai";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";
import { DEFAULT_SETTINGS, changeFromForm, draftFromForm, emptyForm, SETTING_NAMES } from "../src/meetings/model";
import meetingForm from "../src/pages/meeting-form";
import { CaptionStrip } from "../src/room/captionstrip";
import { EmotionBoard } from "../src/room/emotion";
import type { RoomSession } from "../src/room/session";
import { Stage } from "../src/room/tiles";
import { TranscriptPanel } from "../src/room/transcriptpanel";

const line = (id: string, user: string, text: string, at = "2026-11-28T10:00:00Z"): TranscriptLine => ({
  id,
  user_id: user,
  display_name: user === "u1" ? "Ann" : "Bob",
  text,
  started_at: at,
  ended_at: at,
  language: "en",
  emotion: user === "u2" ? { label: "negative", score: 0.7 } : null,
});

beforeEach(() => setLocale("en"));
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  document.body.replaceChildren();
});

describe("the caption strip", () => {
  it("is a polite live region with one line per speaker that fades after a few seconds", () => {
    vi.useFakeTimers();
    const strip = new CaptionStrip();
    document.body.append(strip.element);
    expect(strip.element.getAttribute("aria-live")).toBe("polite");
    strip.add(line("c1", "u1", "Hello all"));
    vi.advanceTimersByTime(2000);
    strip.add(line("c2", "u2", "Hi Ann"));
    strip.add(line("c3", "u1", "Let us start"));
    const shown = () =>
      [...strip.element.querySelectorAll("[data-testid=caption-line]")].map((p) => p.querySelector(".text")!.textContent);
    expect(shown()).toEqual(["Hi Ann", "Let us start"]);
    const tone = strip.element.querySelector("[data-testid=caption-tone]")!;
    expect(tone.getAttribute("aria-label")).toBe("Tone: Negative (70 %)");
    vi.advanceTimersByTime(6100); // both came 6 s ago
    expect(shown()).toEqual([]);
  });
});

describe("emotion badges on tiles", () => {
  function fakeSession(overrides: Partial<Record<string, unknown>> = {}) {
    return {
      status: "joined",
      me: { user_id: "u1", display_name: "Ann", role: "participant", hand_raised: false, audio_muted: false, video_muted: false },
      micOn: false,
      cameraOn: false,
      localStream: null,
      participants: new Map([
        ["u2", { user_id: "u2", display_name: "Bob", role: "participant", hand_raised: false, audio_muted: false, video_muted: false }],
      ]),
      remote: new Map(),
      activeSpeaker: null,
      isManager: false,
      aiEnabled: true,
      emotionCues: true,
      emotions: new EmotionBoard(),
      ...overrides,
    } as unknown as RoomSession;
  }

  const badge = (stage: Stage, userId: string) =>
    stage.element.querySelector<HTMLElement>(`[data-user-id="${userId}"] [data-testid=tile-emotion]`)!;

  it("shows the latest cue with a translated label and clears it after 5 s without updates", () => {
    vi.useFakeTimers();
    const session = fakeSession();
    const stage = new Stage(session, { mute: () => undefined, remove: () => undefined });
    stage.render();
    expect(badge(stage, "u2").hidden).toBe(true);

    session.emotions.set("u2", { label: "happy", score: 0.83 }, Date.now());
    stage.renderEmotions();
    const shown = badge(stage, "u2");
    expect(shown.hidden).toBe(false);
    expect(shown.textContent).toBe("😄 Happy");
    expect(shown.title).toBe("Expression: Happy (83 %)");
    expect(shown.getAttribute("aria-label")).toBe("Expression: Happy (83 %)");

    vi.advanceTimersByTime(3000);
    session.emotions.set("u2", { label: "surprise", score: 0.5 }, Date.now()); // an update
    stage.renderEmotions();
    vi.advanceTimersByTime(3000);
    expect(badge(stage, "u2").textContent).toBe("😮 Surprised"); // 3 s after the update: still there
    vi.advanceTimersByTime(2100);
    expect(badge(stage, "u2").hidden).toBe(true);
    stage.destroy();
  });

  it("shows no cues while the switch is off or the meeting has no AI", () => {
    for (const overrides of [{ emotionCues: false }, { aiEnabled: false }]) {
      const session = fakeSession(overrides);
      session.emotions.set("u2", { label: "happy", score: 1 }, Date.now());
      const stage = new Stage(session, { mute: () => undefined, remove: () => undefined });
      stage.render();
      stage.renderEmotions();
      expect(badge(stage, "u2").hidden).toBe(true);
      stage.destroy();
    }
  });
});

describe("the transcript panel", () => {
  function json(body: unknown): Response {
    return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
  }

  function panelWith(captions: TranscriptLine[]) {
    const session = { meetingId: "m1", meetingTitle: "Weekly sync", me: { user_id: "u1" }, captions } as unknown as RoomSession;
    const panel = new TranscriptPanel(session, () => undefined);
    document.body.append(panel.element);
    return panel;
  }

  const texts = (panel: TranscriptPanel) =>
    [...panel.element.querySelectorAll("[data-testid=transcript-line] .body")].map((item) => item.textContent);

  it("loads earlier lines on opening, merges live ones once, and searches after a pause", async () => {
    const earlier = [line("c1", "u2", "The budget is late", "2026-11-28T10:00:00Z"), line("c2", "u1", "Why?", "2026-11-28T10:00:05Z")];
    const fetch = vi.fn(async (url: string) =>
      json({ meeting_id: "m1", lines: url.includes("q=budget") ? [earlier[0]] : earlier }),
    );
    vi.stubGlobal("fetch", fetch);
    const captions = [earlier[1]!]; // heard live as well
    const panel = panelWith(captions);
    expect(fetch).not.toHaveBeenCalled(); // nothing is loaded while closed
    panel.setOpen(true);
    await vi.waitFor(() => expect(texts(panel)).toEqual(["The budget is late", "Why?"]));
    expect(fetch.mock.calls[0]![0]).toBe("/api/v1/meetings/m1/transcript?format=json");
    expect(panel.element.querySelector("[data-testid=transcript-line] time")!.getAttribute("datetime")).toBe(earlier[0]!.started_at);
    expect(panel.element.querySelector(".mine strong")!.textContent).toBe("You");

    captions.push(line("c3", "u2", "Budget talks moved", "2026-11-28T10:00:09Z"));
    panel.onCaptions();
    panel.onCaptions(); // the same line twice is drawn once
    expect(texts(panel)).toEqual(["The budget is late", "Why?", "Budget talks moved"]);

    const search = panel.element.querySelector<HTMLInputElement>("[data-testid=transcript-search]")!;
    search.value = "bud";
    search.dispatchEvent(new Event("input"));
    search.value = "budget";
    search.dispatchEvent(new Event("input"));
    expect(fetch).toHaveBeenCalledTimes(1); // typing is not searching yet
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(2), { timeout: 2000 });
    expect(fetch.mock.calls[1]![0]).toBe("/api/v1/meetings/m1/transcript?format=json&q=budget");
    // the server's matches, and the live line that matches too
    await vi.waitFor(() => expect(texts(panel)).toEqual(["The budget is late", "Budget talks moved"]));
    expect(panel.element.querySelector("mark")!.textContent).toBe("budget");
    expect(panel.element.querySelector("[data-testid=transcript-status]")!.textContent).toBe("2 lines found.");

    captions.push(line("c4", "u1", "Lunch?", "2026-11-28T10:00:12Z"));
    panel.onCaptions(); // does not match the search
    expect(texts(panel)).toHaveLength(2);
  });

  it("downloads the transcript as a file named after the meeting", async () => {
    const fetch = vi.fn(async (_url: string) => new Response("WEBVTT\n", { status: 200, headers: { "Content-Type": "text/vtt" } }));
    vi.stubGlobal("fetch", fetch);
    const created: Blob[] = [];
    URL.createObjectURL = vi.fn((blob: Blob) => {
      created.push(blob);
      return "blob:transcript";
    });
    URL.revokeObjectURL = vi.fn();
    const clicked: HTMLAnchorElement[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this);
    });
    const panel = panelWith([]);
    panel.element.querySelector<HTMLButtonElement>("[data-testid=transcript-download-vtt]")!.click();
    await vi.waitFor(() => expect(clicked).toHaveLength(1));
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe("/api/v1/meetings/m1/transcript?format=vtt");
    expect(clicked[0]!.download).toBe("transcript-Weekly-sync.vtt");
    expect(clicked[0]!.getAttribute("href")).toBe("blob:transcript");
    expect(await created[0]!.text()).toBe("WEBVTT\n");
    click.mockRestore();
  });

  it("says why the transcript could not be loaded", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ code: "forbidden" }), { status: 403 })));
    const panel = panelWith([line("c1", "u2", "Live line")]);
    panel.setOpen(true);
    const problem = panel.element.querySelector<HTMLElement>("[data-testid=transcript-error]")!;
    await vi.waitFor(() => expect(problem.hidden).toBe(false));
    expect(problem.textContent).toBe("The transcript could not be loaded: You are not allowed to do that.");
    expect(texts(panel)).toEqual(["Live line"]); // what was heard live is still there
  });
});

describe("the meeting form's AI settings", () => {
  it("sends the caption language with the other settings, and changes to it", () => {
    expect(SETTING_NAMES).not.toContain("ai_language");
    expect(SETTING_NAMES).toContain("ai");
    const form = { ...emptyForm(new Date()), title: "Sync", settings: { ...DEFAULT_SETTINGS, ai: true, ai_language: "zh" } };
    expect(draftFromForm(form).settings).toMatchObject({ ai: true, ai_language: "zh" });
    expect(changeFromForm(form, { ...form, settings: { ...form.settings, ai_language: "auto" } })).toEqual({
      settings: { ai_language: "auto" },
    });
  });

  it("labels the AI switch and asks for the language only while it is on", async () => {
    const root = document.createElement("div");
    document.body.append(root);
    await meetingForm(root, { params: {}, query: new URLSearchParams() } as never);
    const ai = root.querySelector<HTMLInputElement>("[data-testid='field-settings.ai']")!;
    expect(root.querySelector(`label[for="${ai.id}"]`)!.textContent).toBe("Live captions and AI assistance");
    const language = root.querySelector<HTMLSelectElement>("[data-testid='field-settings.ai_language']")!;
    const field = language.closest<HTMLElement>(".field")!;
    expect(field.hidden).toBe(true);
    expect(language.value).toBe("auto");
    expect([...language.options].map((o) => o.value)).toEqual(["auto", "en", "zh", "es", "fr", "de", "ja", "pt", "ru", "ko", "it"]);
    expect(language.options[0]!.textContent).toBe("Detect automatically");
    expect(language.options[2]!.textContent).toBe("中文");
    ai.checked = true;
    ai.dispatchEvent(new Event("change"));
    expect(field.hidden).toBe(false);
  });
});
