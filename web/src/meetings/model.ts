// The meeting form's values and the API's bodies, both ways, and the local-time handling of
// `<input type="datetime-local">` (which knows no time zone: its value is the reader's wall
// clock, and the API wants an instant). No DOM here, so that Vitest covers it all.

import type { Meeting, MeetingChange, MeetingDraft, MeetingSettings, MeetingType } from "../api/meetings";

/** The API's limits (`MeetingDraft` in shared/meeting_shared/services/meetings.py). */
export const LIMITS = {
  titleMax: 200,
  descriptionMax: 5000,
  passwordMin: 4,
  passwordMax: 64,
  participantsMin: 2,
  participantsMax: 1000,
  maxHours: 24,
} as const;

/** `MeetingSettings` defaults, in the order the form shows them. */
export const DEFAULT_SETTINGS: MeetingSettings = {
  require_approval: false,
  mute_on_join: false,
  video: true,
  audio: true,
  chat: true,
  screen_share: true,
  recording: false,
  ai: false,
  ai_language: "auto",
};

/** The settings that are on or off (a checkbox each). */
export type SwitchSetting = { [K in keyof MeetingSettings]: MeetingSettings[K] extends boolean ? K : never }[keyof MeetingSettings];

const ALL_SETTINGS = Object.keys(DEFAULT_SETTINGS) as (keyof MeetingSettings)[];

export const SETTING_NAMES = ALL_SETTINGS.filter((name) => typeof DEFAULT_SETTINGS[name] === "boolean") as SwitchSetting[];

/** The languages captions can be asked for ("auto": detected), each named in itself. */
export const AI_LANGUAGES: readonly { code: string; name: string }[] = [
  { code: "en", name: "English" },
  { code: "zh", name: "中文" },
  { code: "es", name: "Español" },
  { code: "fr", name: "Français" },
  { code: "de", name: "Deutsch" },
  { code: "ja", name: "日本語" },
  { code: "pt", name: "Português" },
  { code: "ru", name: "Русский" },
  { code: "ko", name: "한국어" },
  { code: "it", name: "Italiano" },
];

export interface MeetingForm {
  title: string;
  description: string;
  meetingType: MeetingType;
  /** `datetime-local` values: "YYYY-MM-DDTHH:MM" in the reader's time zone. */
  start: string;
  end: string;
  /** A new password; empty keeps the current one (or none). */
  password: string;
  removePassword: boolean;
  maxParticipants: number;
  settings: MeetingSettings;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** A `datetime-local` value for `date` on the reader's clock. */
export function toLocalInput(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** The instant a `datetime-local` value means on the reader's clock; null when it is not one. */
export function fromLocalInput(value: string): Date | null {
  const found = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!found) return null;
  const [year, month, day, hour, minute, second] = found.slice(1).map((part) => Number(part ?? 0));
  const date = new Date(year!, month! - 1, day!, hour!, minute!, second ?? 0);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The next half hour after `now` (a sensible default start for a new meeting). */
export function nextSlot(now: Date, minutes = 30): Date {
  const slot = new Date(now);
  slot.setSeconds(0, 0);
  slot.setMinutes(Math.floor(slot.getMinutes() / minutes) * minutes + minutes);
  return slot;
}

/** The end that keeps a meeting's length when its start moves from `oldStart` to `newStart`. */
export function shiftEnd(oldStart: string, oldEnd: string, newStart: string): string {
  const [before, end, after] = [fromLocalInput(oldStart), fromLocalInput(oldEnd), fromLocalInput(newStart)];
  if (!before || !end || !after) return oldEnd;
  return toLocalInput(new Date(after.getTime() + (end.getTime() - before.getTime())));
}

export function emptyForm(now: Date): MeetingForm {
  const start = nextSlot(now);
  return {
    title: "",
    description: "",
    meetingType: "video",
    start: toLocalInput(start),
    end: toLocalInput(new Date(start.getTime() + 60 * 60 * 1000)),
    password: "",
    removePassword: false,
    maxParticipants: 100,
    settings: { ...DEFAULT_SETTINGS },
  };
}

export function formFromMeeting(meeting: Meeting): MeetingForm {
  return {
    title: meeting.title,
    description: meeting.description,
    meetingType: meeting.meeting_type,
    start: toLocalInput(new Date(meeting.start_time)),
    end: toLocalInput(new Date(meeting.end_time)),
    password: "",
    removePassword: false,
    maxParticipants: meeting.max_participants,
    settings: { ...DEFAULT_SETTINGS, ...meeting.settings },
  };
}

function instant(value: string): string | undefined {
  return fromLocalInput(value)?.toISOString();
}

/** The body of `POST /meetings`. `startNow` leaves the times to the server (now, one hour). */
export function draftFromForm(form: MeetingForm, { startNow = false } = {}): MeetingDraft {
  const draft: MeetingDraft = {
    title: form.title.trim(),
    description: form.description,
    meeting_type: form.meetingType,
    max_participants: form.maxParticipants,
    settings: { ...form.settings },
  };
  if (!startNow) {
    draft.start_time = instant(form.start);
    draft.end_time = instant(form.end);
  }
  if (form.password) draft.password = form.password;
  return draft;
}

/** The body of `PATCH /meetings/{id}`: what differs from `before`; null when nothing does. */
export function changeFromForm(before: MeetingForm, after: MeetingForm): MeetingChange | null {
  const change: MeetingChange = {};
  if (after.title.trim() !== before.title) change.title = after.title.trim();
  if (after.description !== before.description) change.description = after.description;
  if (after.meetingType !== before.meetingType) change.meeting_type = after.meetingType;
  if (after.maxParticipants !== before.maxParticipants) change.max_participants = after.maxParticipants;
  if (after.start !== before.start) change.start_time = instant(after.start);
  if (after.end !== before.end) change.end_time = instant(after.end);
  if (after.removePassword) change.password = null;
  else if (after.password) change.password = after.password;
  const settings: Partial<Record<keyof MeetingSettings, unknown>> = {};
  for (const name of ALL_SETTINGS) {
    if (after.settings[name] !== before.settings[name]) settings[name] = after.settings[name];
  }
  if (Object.keys(settings).length > 0) change.settings = settings as Partial<MeetingSettings>;
  return Object.keys(change).length > 0 ? change : null;
}

/** The form field a 422 error names: "body.settings.chat" -> "settings.chat". */
export function formField(apiField: string): string {
  return apiField.replace(/^body\./, "");
}

/** How many pages a list of `total` items has (at least one, so that "1 of 1" reads well). */
export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}
