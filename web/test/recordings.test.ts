// A meeting's recordings: the API's addresses, the list model (status, facts, polling, merging
// fresh answers), the meeting page's Recordings section against a fake API, and the meeting
// form's recording setting.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Meeting } from "../src/api/meetings";
import { recordingHref, recordingThumbnail, type Recording } from "../src/api/recordings";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";
import { DEFAULT_SETTINGS } from "../src/meetings/model";
import meetingPage from "../src/pages/meeting";
import meetingForm from "../src/pages/meeting-form";
import {
  hasCaptions,
  POLL_PROCESSING_MS,
  POLL_RECORDING_MS,
  pollDelay,
  recordingFacts,
  RecordingList,
  statusBadge,
  statusOf,
  trackLabel,
} from "../src/recordings/list";
import { RecordingsSection } from "../src/recordings/section";

function recording(overrides: Partial<Recording> = {}): Recording {
  return {
    id: "r1",
    meeting_id: "m1",
    status: "ready",
    kind: "composite",
    content_type: "video/mp4",
    size_bytes: 1536 * 1024,
    duration_seconds: 3725,
    started_at: "2026-11-28T10:00:00Z",
    stopped_at: "2026-11-28T11:02:05Z",
    error: null,
    has_thumbnail: true,
    has_captions: false,
    tracks: [
      { track_id: "t1", user_id: "u1", display_name: "Ann", kind: "audio", source: "microphone", size_bytes: 2048 },
      { track_id: "t2", user_id: "u2", display_name: "Bob", kind: "video", source: "screen", size_bytes: 4096 },
    ],
    ...overrides,
  };
}

function meeting(overrides: Partial<Meeting> = {}): Meeting {
  return {
    id: "m1",
    title: "Weekly sync",
    description: "",
    host_id: "u1",
    meeting_type: "video",
    status: "ended",
    start_time: "2026-11-28T10:00:00Z",
    end_time: "2026-11-28T11:00:00Z",
    has_password: false,
    max_participants: 100,
    settings: { ...DEFAULT_SETTINGS, recording: true },
    started_at: "2026-11-28T10:00:00Z",
    ended_at: "2026-11-28T11:05:00Z",
    created_at: "2026-11-27T08:00:00Z",
    my_role: "host",
    ...overrides,
  };
}

const json = (body: unknown, status = 200) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const byTestId = <T extends HTMLElement = HTMLElement>(root: ParentNode, id: string) =>
  root.querySelector<T>(`[data-testid="${id}"]`);
const allByTestId = (root: ParentNode, id: string) => [...root.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

beforeEach(() => setLocale("en"));
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  document.body.replaceChildren();
});

describe("the recordings API", () => {
  it("points players and links at the API, which redirects to the file", () => {
    expect(recordingHref("m1", "r1")).toBe("/api/v1/meetings/m1/recordings/r1/download");
    expect(recordingHref("m1", "r1", { track: "t 1" })).toBe("/api/v1/meetings/m1/recordings/r1/download?track=t+1");
    expect(recordingHref("m1", "r1", { captions: true })).toBe("/api/v1/meetings/m1/recordings/r1/download?captions=1");
    expect(recordingThumbnail("m1", "r1")).toBe("/api/v1/meetings/m1/recordings/r1/thumbnail");
  });
});

describe("the recordings list model", () => {
  it("reads each status, and an unknown one as not ready yet", () => {
    expect(statusBadge("recording")).toEqual({ label: "Recording", className: "badge recording" });
    expect(statusBadge("processing")).toEqual({ label: "Processing…", className: "badge pending" });
    expect(statusBadge("ready")).toEqual({ label: "Ready", className: "badge ready" });
    expect(statusBadge("failed")).toEqual({ label: "Failed", className: "badge failed" });
    expect(statusOf({ status: "mixing" as never })).toBe("processing");
    setLocale("zh-CN");
    expect(statusBadge("processing").label).toBe("处理中…");
  });

  it("looks again every 5 s while one is processing, less often while one records, never otherwise", () => {
    expect(pollDelay([])).toBeNull();
    expect(pollDelay([{ status: "ready" }, { status: "failed" }])).toBeNull();
    expect(pollDelay([{ status: "ready" }, { status: "processing" }])).toBe(POLL_PROCESSING_MS);
    expect(POLL_PROCESSING_MS).toBe(5000);
    expect(pollDelay([{ status: "recording" }])).toBe(POLL_RECORDING_MS);
    expect(pollDelay([{ status: "recording" }, { status: "processing" }])).toBe(POLL_PROCESSING_MS);
  });

  it("formats size and duration, and leaves out what is not known yet", () => {
    const facts = recordingFacts(recording(), "en");
    expect(facts.size).toBe("1.5 MB");
    expect(facts.duration).toBe("1:02:05");
    expect(facts.date).toContain("2026");
    expect(recordingFacts(recording({ size_bytes: null, duration_seconds: null }), "en")).toMatchObject({ size: null, duration: null });
    expect(recordingFacts(recording({ duration_seconds: 4.6 }), "en").duration).toBe("0:05");
  });

  it("names tracks by person and source", () => {
    const [microphone, screen] = recording().tracks;
    expect(trackLabel(microphone!)).toBe("Ann: microphone");
    expect(trackLabel(screen!)).toBe("Bob: screen");
    setLocale("zh-CN");
    expect(trackLabel(microphone!)).toBe("Ann：麦克风");
  });

  it("offers captions as the server says, or for AI meetings when it does not say", () => {
    expect(hasCaptions(recording({ has_captions: true }), false)).toBe(true);
    expect(hasCaptions(recording({ has_captions: false }), true)).toBe(false);
    const unsaid = recording();
    delete unsaid.has_captions;
    expect(hasCaptions(unsaid, true)).toBe(true);
    expect(hasCaptions(unsaid, false)).toBe(false);
  });

  it("merges fresh answers: only new and changed ones are redrawn, and finished ones are told", () => {
    const list = new RecordingList();
    const first = list.merge([recording({ id: "r2", status: "processing", size_bytes: null }), recording({ id: "r1" })]);
    expect(first).toMatchObject({ order: ["r2", "r1"], changed: ["r2", "r1"], removed: [], finished: [] });
    expect(list.pollDelay()).toBe(POLL_PROCESSING_MS);

    const same = list.merge([recording({ id: "r2", status: "processing", size_bytes: null }), recording({ id: "r1" })]);
    expect(same.changed).toEqual([]);

    const done = list.merge([recording({ id: "r3", status: "recording" }), recording({ id: "r2" })]);
    expect(done.order).toEqual(["r3", "r2"]);
    expect(done.changed).toEqual(["r3", "r2"]);
    expect(done.removed).toEqual(["r1"]);
    expect(done.finished.map((r) => r.id)).toEqual(["r2"]);
    expect(list.pollDelay()).toBe(POLL_RECORDING_MS);

    list.remove("r3");
    expect(list.items.map((r) => r.id)).toEqual(["r2"]);
    expect(list.pollDelay()).toBeNull();
  });
});

describe("the Recordings section", () => {
  let answers: Recording[][];
  let fetch: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    answers = [];
    fetch = vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? "GET";
      if (method === "DELETE") return json(null, 204);
      if (method === "POST" && url.endsWith("/recordings")) return json(recording({ id: "r9", status: "recording" }), 201);
      if (method === "POST") return json(recording({ status: "processing" }));
      return json(answers.length > 1 ? answers.shift() : answers[0] ?? []);
    });
    vi.stubGlobal("fetch", fetch);
  });

  async function section(
    list: Recording[][],
    options: { meeting?: Partial<Meeting>; manage?: boolean; delete?: boolean } = {},
  ): Promise<RecordingsSection> {
    answers = list;
    const shown = new RecordingsSection(meeting(options.meeting), { manage: options.manage ?? true, delete: options.delete ?? true });
    document.body.append(shown.element);
    await shown.load();
    return shown;
  }

  const gets = () => fetch.mock.calls.filter(([, init]) => (init?.method ?? "GET") === "GET");

  it("shows a ready recording with its player, downloads and tracks", async () => {
    const shown = await section([[recording({ has_captions: true })]]);
    const item = byTestId(shown.element, "recording")!;
    expect(item.dataset.status).toBe("ready");
    expect(byTestId(item, "recording-status")!.textContent).toBe("Ready");
    expect(byTestId(item, "recording-date")!.getAttribute("datetime")).toBe("2026-11-28T10:00:00Z");
    expect(byTestId(item, "recording-duration")!.textContent).toBe("Length 1:02:05");
    expect(byTestId(item, "recording-size")!.textContent).toBe("Size 1.5 MB");

    const player = byTestId<HTMLVideoElement>(item, "recording-player")!;
    expect(player.tagName).toBe("VIDEO");
    expect(player.hasAttribute("controls")).toBe(true);
    expect(player.getAttribute("preload")).toBe("metadata");
    expect(player.getAttribute("src")).toBe("/api/v1/meetings/m1/recordings/r1/download");
    expect(player.getAttribute("poster")).toBe("/api/v1/meetings/m1/recordings/r1/thumbnail");
    expect(player.getAttribute("aria-label")).toMatch(/^Recording of /);

    const download = byTestId<HTMLAnchorElement>(item, "recording-download")!;
    expect(download.getAttribute("href")).toBe("/api/v1/meetings/m1/recordings/r1/download");
    expect(download.textContent).toBe("Download video (MP4)");
    expect(byTestId(item, "recording-captions")!.getAttribute("href")).toBe("/api/v1/meetings/m1/recordings/r1/download?captions=1");
    const tracks = allByTestId(item, "recording-track");
    expect(tracks.map((a) => a.textContent)).toEqual(["Ann: microphone", "Bob: screen"]);
    expect(tracks.map((a) => a.getAttribute("href"))).toEqual([
      "/api/v1/meetings/m1/recordings/r1/download?track=t1",
      "/api/v1/meetings/m1/recordings/r1/download?track=t2",
    ]);
    expect(item.querySelector("summary")!.textContent).toBe("Separate tracks (2)");
    expect(byTestId(shown.element, "recordings-empty")!.hidden).toBe(true);
    shown.destroy();
  });

  it("shows no poster without a thumbnail and no captions link without captions", async () => {
    const shown = await section([[recording({ has_thumbnail: false, tracks: [] })]]);
    expect(byTestId(shown.element, "recording-player")!.hasAttribute("poster")).toBe(false);
    expect(byTestId(shown.element, "recording-captions")).toBeNull();
    expect(shown.element.querySelector("details")).toBeNull();
  });

  it("says what a failed recording's error was", async () => {
    const shown = await section([[recording({ status: "failed", error: "No track was recorded", size_bytes: null, duration_seconds: null })]]);
    const item = byTestId(shown.element, "recording")!;
    expect(byTestId(item, "recording-status")!.textContent).toBe("Failed");
    expect(byTestId(item, "recording-error")!.textContent).toBe("This recording could not be made: No track was recorded");
    expect(byTestId(item, "recording-player")).toBeNull();
    expect(byTestId(item, "recording-download")).toBeNull();
    expect(byTestId(item, "recording-size")).toBeNull();
  });

  it("has words for an empty list", async () => {
    const shown = await section([[]]);
    expect(byTestId(shown.element, "recordings-empty")!.hidden).toBe(false);
    expect(byTestId(shown.element, "recordings-empty")!.textContent).toBe("This meeting has no recordings.");
    expect(byTestId(shown.element, "recordings-list")!.hidden).toBe(true);
  });

  it("loads again every 5 s while one is processing, and stops once it is ready", async () => {
    vi.useFakeTimers();
    const watched = recording({ id: "r0" });
    const processing = recording({ status: "processing", size_bytes: null, duration_seconds: null, tracks: [] });
    const shown = await section([[processing, watched], [processing, watched], [recording(), watched]]);
    const item = byTestId(shown.element, "recording")!;
    expect(byTestId(item, "recording-status")!.textContent).toBe("Processing…");
    expect(item.textContent).toContain("The recording is being prepared.");
    expect(byTestId(item, "recording-player")).toBeNull();
    const player = shown.element.querySelector<HTMLElement>("[data-id=r0] video")!;
    expect(gets()).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(4900);
    expect(gets()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(gets()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5000);
    expect(gets()).toHaveLength(3);
    const ready = byTestId(shown.element, "recording")!;
    expect(ready.dataset.status).toBe("ready");
    expect(byTestId(ready, "recording-player")).not.toBeNull();
    expect(byTestId(shown.element, "recordings-notice")!.textContent).toMatch(/^The recording of .+ is ready\.$/);
    // the other one was never redrawn: a video being watched keeps playing
    expect(shown.element.querySelector("[data-id=r0] video")).toBe(player);
    expect(allByTestId(shown.element, "recording").map((li) => li.dataset.id)).toEqual(["r1", "r0"]);

    await vi.advanceTimersByTimeAsync(60_000);
    expect(gets()).toHaveLength(3); // nothing left to wait for
    shown.destroy();
  });

  it("does not poll when everything is finished, nor after the page is left", async () => {
    vi.useFakeTimers();
    const shown = await section([[recording(), recording({ id: "r2", status: "failed" })]]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(gets()).toHaveLength(1);

    const busy = await section([[recording({ status: "processing" })]]);
    busy.destroy();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(gets()).toHaveLength(2);
    shown.destroy();
  });

  it("offers Delete to the host only, and deletes after confirming", async () => {
    const other = await section([[recording()]], { delete: false });
    expect(byTestId(other.element, "recording-delete")).toBeNull();
    other.element.remove();

    const shown = await section([[recording()]]);
    const remove = byTestId<HTMLButtonElement>(shown.element, "recording-delete")!;
    expect(remove.getAttribute("aria-label")).toMatch(/^Delete the recording of /);
    remove.click();
    const dialog = await vi.waitFor(() => byTestId<HTMLDialogElement>(document.body, "dialog")!);
    expect(dialog.textContent).toContain("Delete this recording?");
    byTestId<HTMLButtonElement>(dialog, "dialog-cancel")!.click();
    expect(fetch.mock.calls.some(([, init]) => init?.method === "DELETE")).toBe(false);

    remove.click();
    byTestId<HTMLButtonElement>(document.body, "dialog-confirm")!.click();
    await vi.waitFor(() => expect(byTestId(shown.element, "recording")).toBeNull());
    const call = fetch.mock.calls.find(([, init]) => init?.method === "DELETE")!;
    expect(call[0]).toBe("/api/v1/meetings/m1/recordings/r1");
    expect(byTestId(shown.element, "recordings-empty")!.hidden).toBe(false);
    expect(byTestId(shown.element, "recordings-notice")!.textContent).toMatch(/^The recording of .+ was deleted\.$/);
  });

  it("never offers to delete one that is still recording", async () => {
    const shown = await section([[recording({ status: "recording", size_bytes: null, duration_seconds: null })]], {
      meeting: { status: "live" },
    });
    expect(byTestId(shown.element, "recording-delete")).toBeNull();
    expect(byTestId(shown.element, "recording-stop")).not.toBeNull();
    shown.destroy();
  });

  it("lets hosts start and stop while the meeting is live", async () => {
    vi.useFakeTimers();
    const shown = await section([[]], { meeting: { status: "live" } });
    const start = byTestId<HTMLButtonElement>(shown.element, "recording-start")!;
    expect(start.hidden).toBe(false);
    answers = [[recording({ id: "r9", status: "recording", size_bytes: null, duration_seconds: null })]];
    start.click();
    await vi.waitFor(() => expect(byTestId(shown.element, "recording")).not.toBeNull());
    expect(fetch.mock.calls.find(([, init]) => init?.method === "POST")![0]).toBe("/api/v1/meetings/m1/recordings");
    expect(start.hidden).toBe(true); // one runs
    expect(byTestId(shown.element, "recordings-notice")!.textContent).toBe("Recording started.");

    answers = [[recording({ id: "r9", status: "processing", size_bytes: null, duration_seconds: null })]];
    byTestId<HTMLButtonElement>(shown.element, "recording-stop")!.click();
    await vi.waitFor(() => expect(byTestId(shown.element, "recording")!.dataset.status).toBe("processing"));
    const posts = fetch.mock.calls.filter(([, init]) => init?.method === "POST");
    expect(posts[1]![0]).toBe("/api/v1/meetings/m1/recordings/r9/stop");
    shown.destroy();
  });

  it("offers no Start outside live meetings, to participants, or where recording is off", async () => {
    for (const options of [
      { meeting: { status: "ended" as const } },
      { meeting: { status: "live" as const }, manage: false },
      { meeting: { status: "live" as const, settings: { ...DEFAULT_SETTINGS, recording: false } } },
    ]) {
      const shown = await section([[]], options);
      expect(byTestId(shown.element, "recording-start")!.hidden).toBe(true);
      shown.element.remove();
    }
  });

  it("says why the list could not be loaded, and loads it again on request", async () => {
    fetch.mockImplementationOnce(async () => json({ code: "forbidden" }, 403));
    const shown = await section([[recording()]]);
    const problem = byTestId(shown.element, "recordings-error")!;
    expect(problem.hidden).toBe(false);
    expect(problem.textContent).toContain("The recordings could not be loaded: You are not allowed to do that.");
    byTestId<HTMLButtonElement>(shown.element, "recordings-retry")!.click();
    await vi.waitFor(() => expect(byTestId(shown.element, "recording")).not.toBeNull());
    expect(problem.hidden).toBe(true);
  });
});

describe("the meeting page", () => {
  function stubApi(found: Meeting, list: Recording[]) {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => (url.endsWith("/recordings") ? json(list) : json(found))),
    );
  }

  async function open(user: { role: string } = { role: "user" }): Promise<[HTMLElement, () => void]> {
    const root = document.createElement("div");
    document.body.append(root);
    const cleanup = await meetingPage(root, { params: { id: "m1" }, query: new URLSearchParams(), user } as never);
    await vi.waitFor(() => expect(root.querySelector("[data-testid=recording], [data-testid=recordings-empty]:not([hidden])")).not.toBeNull());
    return [root, cleanup as () => void];
  }

  it("shows the meeting and its recordings, with Delete for the host", async () => {
    stubApi(meeting({ description: "Agenda: budget" }), [recording()]);
    const [root, cleanup] = await open();
    expect(byTestId(root, "meeting-title")!.textContent).toBe("Weekly sync");
    expect(byTestId(root, "meeting-status")!.textContent).toBe("Ended");
    expect(byTestId(root, "meeting-description")!.textContent).toBe("Agenda: budget");
    expect(byTestId(root, "meeting-join")).toBeNull(); // it is over
    expect(root.querySelector("#recordings-heading")!.textContent).toBe("Recordings");
    expect(byTestId(root, "recording-player")).not.toBeNull();
    expect(byTestId(root, "recording-delete")).not.toBeNull();
    cleanup();
  });

  it("shows no Delete to other members, but to administrators", async () => {
    stubApi(meeting({ my_role: "participant" }), [recording()]);
    const [root, cleanup] = await open();
    expect(byTestId(root, "recording-delete")).toBeNull();
    expect(byTestId(root, "recording-download")).not.toBeNull();
    cleanup();
    document.body.replaceChildren();
    const [asAdmin, cleanupAdmin] = await open({ role: "admin" });
    expect(byTestId(asAdmin, "recording-delete")).not.toBeNull();
    cleanupAdmin();
  });

  it("offers the way in to a live meeting", async () => {
    stubApi(meeting({ status: "live", my_role: "co_host" }), []);
    const [root, cleanup] = await open();
    expect(byTestId<HTMLAnchorElement>(root, "meeting-join")!.getAttribute("href")).toBe("/join/m1");
    expect(byTestId(root, "meeting-edit")).not.toBeNull();
    expect(byTestId(root, "recording-start")!.hidden).toBe(false);
    cleanup();
  });

  it("says when the meeting cannot be shown", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json({ code: "meeting_not_found" }, 404)));
    const root = document.createElement("div");
    await meetingPage(root, { params: { id: "m1" }, query: new URLSearchParams(), user: { role: "user" } } as never);
    expect(byTestId(root, "meeting-error")!.textContent).toBe("There is no such meeting, or you are not invited to it.");
  });
});

describe("the meeting form's recording setting", () => {
  it("asks whether recording is allowed, off by default", async () => {
    const root = document.createElement("div");
    document.body.append(root);
    await meetingForm(root, { params: {}, query: new URLSearchParams() } as never);
    const recording = root.querySelector<HTMLInputElement>("[data-testid='field-settings.recording']")!;
    expect(recording.type).toBe("checkbox");
    expect(recording.checked).toBe(false);
    expect(root.querySelector(`label[for="${recording.id}"]`)!.textContent).toBe("Allow recording");
  });
});
