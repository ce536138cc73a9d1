// The room's switches this browser remembers (localStorage): captions shown, emotion cues,
// chat read aloud. A browser that refuses storage keeps the defaults.

export type Preference = "captions" | "emotionCues" | "readAloud";

const DEFAULTS: Record<Preference, boolean> = { captions: true, emotionCues: true, readAloud: false };

const key = (name: Preference) => `meeting.room.${name}`;

export function preference(name: Preference): boolean {
  let saved: string | null = null;
  try {
    saved = globalThis.localStorage?.getItem(key(name)) ?? null;
  } catch {
    // storage refused (private mode, a sandboxed frame)
  }
  return saved === null ? DEFAULTS[name] : saved === "true";
}

export function savePreference(name: Preference, on: boolean): void {
  try {
    globalThis.localStorage?.setItem(key(name), String(on));
  } catch {
    // not remembered, but still applied for this visit
  }
}
