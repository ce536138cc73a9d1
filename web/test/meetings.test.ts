import { describe, expect, it } from "vitest";
import type { Meeting } from "../src/api/meetings";
import { inviteUrl } from "../src/api/meetings";
import { deviceOptions, levelFromSamples, mediaConstraints, DEFAULT_CHOICE } from "../src/meetings/devices";
import {
  changeFromForm,
  DEFAULT_SETTINGS,
  draftFromForm,
  emptyForm,
  formField,
  formFromMeeting,
  fromLocalInput,
  nextSlot,
  pageCount,
  shiftEnd,
  toLocalInput,
} from "../src/meetings/model";

// Local dates throughout: the form works on the reader's wall clock, whatever the time zone
// these tests run in.
const at = (y: number, mo: number, d: number, h: number, mi: number) => new Date(y, mo - 1, d, h, mi);

function meeting(overrides: Partial<Meeting> = {}): Meeting {
  return {
    id: "m1",
    title: "Weekly sync",
    description: "",
    host_id: "u1",
    meeting_type: "video",
    status: "scheduled",
    start_time: at(2030, 3, 4, 9, 30).toISOString(),
    end_time: at(2030, 3, 4, 10, 15).toISOString(),
    has_password: false,
    max_participants: 100,
    settings: { ...DEFAULT_SETTINGS },
    started_at: null,
    ended_at: null,
    created_at: at(2030, 3, 1, 8, 0).toISOString(),
    my_role: "host",
    ...overrides,
  };
}

describe("datetime-local values", () => {
  it("round-trip a local wall-clock time", () => {
    const date = at(2030, 1, 5, 7, 3);
    expect(toLocalInput(date)).toBe("2030-01-05T07:03");
    expect(fromLocalInput("2030-01-05T07:03")?.getTime()).toBe(date.getTime());
    expect(fromLocalInput("2030-01-05T07:03:09")?.getSeconds()).toBe(9);
  });

  it("reject what is not one", () => {
    expect(fromLocalInput("")).toBeNull();
    expect(fromLocalInput("tomorrow")).toBeNull();
    expect(fromLocalInput("2030-01-05")).toBeNull();
  });

  it("start new meetings at the next half hour, an hour long", () => {
    expect(toLocalInput(nextSlot(at(2030, 1, 5, 7, 3)))).toBe("2030-01-05T07:30");
    expect(toLocalInput(nextSlot(at(2030, 1, 5, 7, 30)))).toBe("2030-01-05T08:00");
    expect(toLocalInput(nextSlot(at(2030, 12, 31, 23, 45)))).toBe("2031-01-01T00:00");
    const form = emptyForm(at(2030, 1, 5, 7, 3));
    expect([form.start, form.end]).toEqual(["2030-01-05T07:30", "2030-01-05T08:30"]);
  });

  it("keep a meeting's length when its start moves", () => {
    expect(shiftEnd("2030-01-05T07:30", "2030-01-05T08:15", "2030-01-06T23:30")).toBe("2030-01-07T00:15");
    expect(shiftEnd("", "2030-01-05T08:15", "2030-01-06T23:30")).toBe("2030-01-05T08:15");
  });
});

describe("the meeting form and the API", () => {
  it("sends a draft with instants and every setting", () => {
    const form = {
      ...emptyForm(at(2030, 1, 5, 7, 3)),
      title: "  Planning  ",
      description: "Agenda",
      meetingType: "audio" as const,
      password: "s3cret",
      maxParticipants: 12,
      settings: { ...DEFAULT_SETTINGS, require_approval: true, chat: false },
    };
    expect(draftFromForm(form)).toEqual({
      title: "Planning",
      description: "Agenda",
      meeting_type: "audio",
      max_participants: 12,
      start_time: at(2030, 1, 5, 7, 30).toISOString(),
      end_time: at(2030, 1, 5, 8, 30).toISOString(),
      password: "s3cret",
      settings: { ...DEFAULT_SETTINGS, require_approval: true, chat: false },
    });
  });

  it("leaves the times to the server when starting now, and sends no empty password", () => {
    const draft = draftFromForm({ ...emptyForm(new Date()), title: "Now" }, { startNow: true });
    expect(draft.start_time).toBeUndefined();
    expect(draft.end_time).toBeUndefined();
    expect("password" in draft).toBe(false);
  });

  it("reads a meeting back into the form", () => {
    const form = formFromMeeting(meeting({ settings: { ...DEFAULT_SETTINGS, ai: true }, max_participants: 8 }));
    expect(form.start).toBe("2030-03-04T09:30");
    expect(form.end).toBe("2030-03-04T10:15");
    expect(form.settings.ai).toBe(true);
    expect(form.maxParticipants).toBe(8);
    expect(form.password).toBe("");
  });

  it("patches only what changed", () => {
    const before = formFromMeeting(meeting());
    expect(changeFromForm(before, { ...before })).toBeNull();
    expect(changeFromForm(before, { ...before, title: "Renamed " })).toEqual({ title: "Renamed" });
    expect(
      changeFromForm(before, {
        ...before,
        end: "2030-03-04T11:00",
        settings: { ...before.settings, mute_on_join: true },
      }),
    ).toEqual({ end_time: at(2030, 3, 4, 11, 0).toISOString(), settings: { mute_on_join: true } });
  });

  it("keeps, replaces or removes the password", () => {
    const before = formFromMeeting(meeting({ has_password: true }));
    expect(changeFromForm(before, { ...before })).toBeNull();
    expect(changeFromForm(before, { ...before, password: "new-one" })).toEqual({ password: "new-one" });
    expect(changeFromForm(before, { ...before, password: "ignored", removePassword: true })).toEqual({ password: null });
  });

  it("maps 422 fields to form fields", () => {
    expect(formField("body.title")).toBe("title");
    expect(formField("body.settings.chat")).toBe("settings.chat");
    expect(formField("end_time")).toBe("end_time");
  });

  it("counts pages", () => {
    expect(pageCount(0, 10)).toBe(1);
    expect(pageCount(10, 10)).toBe(1);
    expect(pageCount(11, 10)).toBe(2);
  });

  it("builds invite links on this site", () => {
    expect(inviteUrl("https://meet.example", "m 1", "a+b")).toBe("https://meet.example/join/m%201?invite=a%2Bb");
  });
});

describe("pre-join media", () => {
  it("asks for the chosen devices, and no camera for audio-only meetings", () => {
    expect(mediaConstraints(DEFAULT_CHOICE)).toEqual({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
    });
    expect(mediaConstraints({ ...DEFAULT_CHOICE, microphone: "mic-2", camera: "cam-3" })).toEqual({
      audio: { deviceId: { ideal: "mic-2" } },
      video: { width: { ideal: 640 }, height: { ideal: 480 }, deviceId: { ideal: "cam-3" } },
    });
    expect(mediaConstraints({ ...DEFAULT_CHOICE, video: false }).video).toBe(false);
  });

  it("reads silence as zero and a loud signal as a full meter", () => {
    expect(levelFromSamples(new Uint8Array(512).fill(128))).toBe(0);
    expect(levelFromSamples(new Uint8Array(0))).toBe(0);
    const loud = Uint8Array.from({ length: 512 }, (_, i) => (i % 2 ? 255 : 0));
    expect(levelFromSamples(loud)).toBeCloseTo(1, 2);
    // ±5/128 is about -28 dBFS, ordinary speech: about half the meter.
    const speech = Uint8Array.from({ length: 512 }, (_, i) => (i % 2 ? 133 : 123));
    expect(levelFromSamples(speech)).toBeCloseTo(0.53, 2);
    // A mic's noise floor (±1/128 every 64th sample, below -60 dBFS) reads empty.
    const hiss = Uint8Array.from({ length: 512 }, (_, i) => (i % 64 ? 128 : 129));
    expect(levelFromSamples(hiss)).toBe(0);
  });

  it("labels devices the browser does not name yet", () => {
    const devices = [
      { deviceId: "a", kind: "audioinput" as const, label: "USB mic" },
      { deviceId: "b", kind: "audioinput" as const, label: "" },
      { deviceId: "", kind: "audioinput" as const, label: "" },
      { deviceId: "c", kind: "videoinput" as const, label: "" },
    ];
    expect(deviceOptions(devices, "audioinput", (n) => `Microphone ${n}`)).toEqual([
      { id: "a", label: "USB mic" },
      { id: "b", label: "Microphone 2" },
    ]);
    expect(deviceOptions(devices, "videoinput", (n) => `Camera ${n}`)).toEqual([{ id: "c", label: "Camera 1" }]);
  });
});
