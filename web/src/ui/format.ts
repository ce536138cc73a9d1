// Numbers the way people read them: file sizes, durations, rates.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** `1536` → `1.5 KB` (binary multiples, the way file managers show sizes). */
export function formatBytes(bytes: number, locale = "en"): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  const number = new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
  return `${number} ${UNITS[unit]}`;
}

/** `75.4` → `1:15`; `3725` → `1:02:05`. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A plain number with at most `digits` decimals, grouped the reader's way. */
export function formatNumber(value: number, locale = "en", digits = 0): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
}

/** `1_250_000` bit/s → `1.3 Mbit/s`. */
export function formatBitrate(bitsPerSecond: number, locale = "en"): string {
  if (bitsPerSecond >= 1e6) return `${formatNumber(bitsPerSecond / 1e6, locale, 1)} Mbit/s`;
  return `${formatNumber(bitsPerSecond / 1e3, locale, 0)} kbit/s`;
}
