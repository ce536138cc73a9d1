// The application's state in one place: who is signed in, in which language, and the message
// shown at the top of the next page. Pages read it and change it only through `update`.

import type { User } from "../api/account";
import { LOCALES, locale, setLocale, type Locale } from "../i18n";

export interface Flash {
  level: "info" | "error";
  text: string;
}

export interface AppState {
  user: User | null;
  locale: Locale;
  flash: Flash | null;
}

type Listener = (state: AppState) => void;

const state: AppState = { user: null, locale: locale(), flash: null };
const listeners = new Set<Listener>();

export function getState(): Readonly<AppState> {
  return state;
}

export function update(change: Partial<AppState>): void {
  Object.assign(state, change);
  if (change.locale) setLocale(change.locale);
  for (const listener of listeners) listener(state);
}

export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The flash message, once: the page that shows it clears it. */
export function takeFlash(): Flash | null {
  const flash = state.flash;
  state.flash = null;
  return flash;
}

/** Someone signed in (or was found signed in): the language saved in their profile applies. */
export function signedIn(user: User): void {
  const saved = LOCALES.find((code) => code === user.locale);
  update(saved ? { user, locale: saved } : { user });
}
