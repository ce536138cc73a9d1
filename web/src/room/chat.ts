// Chat state that needs no DOM: merging history pages with live messages, and the unread count
// shown on the chat toggle while the panel is closed.

import type { ChatFrame } from "./protocol";

/** Messages from both sources, each once (by id), oldest first. */
export function mergeChat(current: readonly ChatFrame[], more: readonly ChatFrame[]): ChatFrame[] {
  const byId = new Map<string, ChatFrame>();
  for (const message of [...current, ...more]) byId.set(message.id, message);
  return [...byId.values()].sort(
    (a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** Counts messages from others that arrive while the chat is closed; opening it reads them. */
export class UnreadCounter {
  count = 0;

  constructor(private open: boolean) {}

  get isOpen(): boolean {
    return this.open;
  }

  setOpen(open: boolean): void {
    this.open = open;
    if (open) this.count = 0;
  }

  /** A live message arrived (history is never unread). */
  received(fromMe: boolean): void {
    if (!this.open && !fromMe) this.count += 1;
  }
}
