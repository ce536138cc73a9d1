// A meeting's time the way its reader writes dates.

import type { Meeting } from "../api/meetings";
import { formatDateTime, locale, t } from "../i18n";

function sameDay(a: Date, b: Date): boolean {
  return a.toDateString() === b.toDateString();
}

/** "Jan 5, 2026, 2:30 PM – 3:30 PM" (the end's date only when it differs). */
export function timeRange(meeting: Pick<Meeting, "start_time" | "end_time">): string {
  const start = new Date(meeting.start_time);
  const end = new Date(meeting.end_time);
  const endText = sameDay(start, end)
    ? new Intl.DateTimeFormat(locale(), { timeStyle: "short" }).format(end)
    : formatDateTime(end);
  return t("meeting.time_range", { start: formatDateTime(start), end: endText });
}
