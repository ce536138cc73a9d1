// Translations: English and Simplified Chinese. Each feature keeps its messages in its own file
// (`i18n/<feature>.ts`, registered in `i18n/catalogs.ts`); `t()` falls back to English, then to
// the key itself, so a missing translation shows up as English rather than as a blank.

export type Locale = "en" | "zh-CN";
export const LOCALES: readonly Locale[] = ["en", "zh-CN"];
export const LOCALE_NAMES: Record<Locale, string> = { en: "English", "zh-CN": "简体中文" };

export type Messages = Record<string, string>;
export type FeatureMessages = Record<Locale, Messages>;

const catalogs: Record<Locale, Messages> = { en: {}, "zh-CN": {} };
const STORAGE_KEY = "meeting.locale";

export function register(feature: FeatureMessages): void {
  for (const locale of LOCALES) Object.assign(catalogs[locale], feature[locale]);
}

export function catalog(locale: Locale): Readonly<Messages> {
  return catalogs[locale];
}

function detect(): Locale {
  const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "zh-CN") return saved;
  const languages = globalThis.navigator?.languages ?? [];
  return languages.some((language) => language.toLowerCase().startsWith("zh")) ? "zh-CN" : "en";
}

let current: Locale = detect();

export function locale(): Locale {
  return current;
}

export function setLocale(next: Locale): void {
  current = next;
  globalThis.localStorage?.setItem(STORAGE_KEY, next);
  if (globalThis.document) document.documentElement.lang = next;
}

/** The message for `key` in the current language, with `{name}` placeholders filled in. */
export function t(key: string, vars: Record<string, string | number> = {}): string {
  const text = catalogs[current][key] ?? catalogs.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name: string) =>
    name in vars ? String(vars[name]) : match,
  );
}

/** Dates and times the way the reader's language writes them. */
export function formatDateTime(value: string | Date): string {
  return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(
    typeof value === "string" ? new Date(value) : value,
  );
}
