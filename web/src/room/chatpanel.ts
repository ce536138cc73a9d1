// The chat panel: the meeting's history (loaded on join, older pages on scroll or on the
// button), live messages, and the unread count for the toggle while the panel is closed.

import { chatHistory, type ChatMessage } from "../api/room";
import { locale, t } from "../i18n";
import { h } from "../ui/dom";
import { mergeChat, UnreadCounter } from "./chat";
import type { ChatFrame } from "./protocol";
import type { RoomSession } from "./session";

function fromHistory(message: ChatMessage): ChatFrame {
  return {
    type: "chat",
    id: message.id,
    sender: { user_id: message.sender.id, display_name: message.sender.display_name },
    body: message.body,
    created_at: message.created_at,
  };
}

export function clock(iso: string): string {
  return new Intl.DateTimeFormat(locale(), { timeStyle: "short" }).format(new Date(iso));
}

export class ChatPanel {
  readonly element: HTMLElement;
  readonly unread: UnreadCounter;
  private messages: ChatFrame[] = [];
  private readonly items = new Map<string, HTMLElement>();
  /** Cursor for older messages: undefined before the first page, null when there are none. */
  private nextBefore: string | null | undefined = undefined;
  private loading = false;
  private readonly list: HTMLOListElement;
  private readonly older: HTMLButtonElement;
  private readonly historyError: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly input: HTMLInputElement;
  private readonly off: HTMLElement;

  constructor(
    private readonly session: RoomSession,
    open: boolean,
    close: () => void,
    /** Tells the room about a message from someone else (for the toggle and announcements). */
    private readonly onLive: (message: ChatFrame) => void,
  ) {
    this.unread = new UnreadCounter(open);
    this.list = h("ol", {
      class: "chat-list",
      role: "log",
      "aria-live": "polite",
      "aria-label": t("room.chat_messages"),
      "data-testid": "chat-messages",
      tabindex: 0,
    });
    this.older = h("button", { type: "button", class: "link", "data-testid": "chat-older", hidden: true }, t("room.chat_older"));
    this.historyError = h("p", { class: "alert", role: "alert", "data-testid": "chat-history-error", hidden: true });
    this.input = h("input", {
      type: "text",
      name: "message",
      maxlength: 4000,
      autocomplete: "off",
      "aria-label": t("room.chat_message"),
      placeholder: t("room.chat_placeholder"),
      "data-testid": "chat-input",
    });
    this.form = h(
      "form",
      { class: "chat-form", "data-testid": "chat-form" },
      this.input,
      h("button", { type: "submit", "data-testid": "chat-send" }, t("room.chat_send")),
    );
    this.off = h("p", { class: "status", "data-testid": "chat-off", hidden: true }, t("room.chat_off"));
    const closeButton = h("button", { type: "button", class: "close", "aria-label": t("room.chat_close") }, "×");
    closeButton.addEventListener("click", close);
    this.element = h(
      "aside",
      { class: "panel chat", id: "room-chat", "aria-labelledby": "room-chat-title", "data-testid": "chat-panel", hidden: !open },
      h("div", { class: "panel-head" }, h("h2", { id: "room-chat-title" }, t("room.chat")), closeButton),
      this.historyError,
      this.older,
      this.list,
      this.off,
      this.form,
    );

    this.older.addEventListener("click", () => void this.loadOlder());
    this.list.addEventListener("scroll", () => {
      if (this.list.scrollTop < 8 && this.nextBefore) void this.loadOlder();
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      session.sendChat(this.input.value);
      this.input.value = "";
    });
    void this.loadOlder();
  }

  get isOpen(): boolean {
    return this.unread.isOpen;
  }

  setOpen(open: boolean): void {
    this.unread.setOpen(open);
    this.element.hidden = !open;
    if (open) this.scrollToEnd();
  }

  focus(): void {
    (this.form.hidden ? this.list : this.input).focus();
  }

  /** The session got live messages. */
  onChat(): void {
    const known = new Set(this.messages.map((m) => m.id));
    const fresh = this.session.chat.filter((m) => !known.has(m.id));
    if (fresh.length === 0) return;
    const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const myId = this.session.me?.user_id;
    for (const message of fresh) {
      const mine = message.sender.user_id === myId;
      this.unread.received(mine);
      if (!mine) this.onLive(message);
    }
    this.messages = mergeChat(this.messages, fresh);
    this.draw();
    if (atEnd || fresh.some((m) => m.sender.user_id === myId)) this.scrollToEnd();
  }

  /** Whether chat is allowed and the room live (the form shows only then). */
  setLive(live: boolean): void {
    const allowed = this.session.meetingSettings.chat !== false;
    this.form.hidden = !live || !allowed;
    this.off.hidden = allowed;
  }

  private async loadOlder(): Promise<void> {
    if (this.loading || this.nextBefore === null) return;
    this.loading = true;
    this.older.disabled = true;
    const first = this.nextBefore === undefined;
    const fromBottom = this.list.scrollHeight - this.list.scrollTop;
    try {
      const page = await chatHistory(this.session.meetingId, this.nextBefore ?? null);
      this.nextBefore = page.next_before;
      this.messages = mergeChat(this.messages, page.items.map(fromHistory));
      this.historyError.hidden = true;
      this.draw();
      if (first) this.scrollToEnd();
      else this.list.scrollTop = this.list.scrollHeight - fromBottom; // keep what was in view
    } catch (error) {
      this.historyError.textContent = t("room.chat_history_failed", {
        detail: error instanceof Error ? error.message : String(error),
      });
      this.historyError.hidden = false;
    } finally {
      this.loading = false;
      this.older.disabled = false;
      this.older.hidden = !this.nextBefore;
    }
  }

  private draw(): void {
    const myId = this.session.me?.user_id;
    this.messages.forEach((message, index) => {
      const mine = message.sender.user_id === myId;
      let item = this.items.get(message.id);
      if (!item || item.dataset.mine !== String(mine)) {
        item?.remove(); // drawn before this client knew who it is
        item = h(
          "li",
          { "data-testid": "chat-message", "data-sender": message.sender.user_id, "data-mine": String(mine), class: mine ? "mine" : null },
          h("strong", {}, mine ? t("room.you") : message.sender.display_name),
          " ",
          h("time", { datetime: message.created_at }, clock(message.created_at)),
          h("span", { class: "body" }, message.body),
        );
        this.items.set(message.id, item);
      }
      // only new messages are inserted: the log announces additions, not redraws
      if (this.list.children[index] !== item) this.list.insertBefore(item, this.list.children[index] ?? null);
    });
  }

  private scrollToEnd(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }
}
