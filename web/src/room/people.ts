// The participants panel: everyone with role and state; for hosts and co-hosts, per-person
// mute, role and remove, and the lobby (people asking to join) with admit and deny.

import { t } from "../i18n";
import { h } from "../ui/dom";
import { clock } from "./chatpanel";
import { ROLES, type LobbyEntry, type ParticipantInfo, type Role } from "./protocol";
import type { RoomSession } from "./session";

export interface PeopleActions {
  mute(person: ParticipantInfo): void;
  remove(person: ParticipantInfo): void;
  changeRole(person: ParticipantInfo, role: Role, select: HTMLSelectElement): void;
}

export function roleName(role: string): string {
  const key = `room.role.${role}`;
  const text = t(key);
  return text === key ? role : text;
}

export class PeoplePanel {
  readonly element: HTMLElement;
  private readonly title: HTMLElement;
  private readonly lobbySection: HTMLElement;
  private readonly lobbyTitle: HTMLElement;
  private readonly lobbyList: HTMLElement;
  private readonly list: HTMLElement;
  /** Rows by user id, with the state they were drawn from (redrawn only when it changes, so
   * focus and open selects survive other people's updates). */
  private readonly rows = new Map<string, { row: HTMLElement; drawn: string }>();

  constructor(
    private readonly session: RoomSession,
    close: () => void,
    private readonly actions: PeopleActions,
  ) {
    this.title = h("h2", { id: "room-people-title" });
    const closeButton = h("button", { type: "button", class: "close", "aria-label": t("room.people_close") }, "×");
    closeButton.addEventListener("click", close);
    this.lobbyTitle = h("h3", {});
    this.lobbyList = h("ul", { class: "lobby-list" });
    this.lobbySection = h(
      "section",
      { class: "lobby", "data-testid": "lobby", "aria-label": t("room.lobby"), hidden: true },
      this.lobbyTitle,
      this.lobbyList,
    );
    this.list = h("ul", { class: "people-list", "data-testid": "people-list" });
    this.element = h(
      "aside",
      { class: "panel people", id: "room-people", "aria-labelledby": "room-people-title", "data-testid": "people-panel", hidden: true },
      h("div", { class: "panel-head" }, this.title, closeButton),
      this.lobbySection,
      this.list,
    );
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  setOpen(open: boolean): void {
    this.element.hidden = !open;
  }

  focus(): void {
    const first = this.element.querySelector<HTMLElement>(".lobby button, .people-list button, .people-list select");
    (first ?? this.title).focus();
  }

  render(): void {
    this.renderLobby();
    const session = this.session;
    const everyone: { person: ParticipantInfo; self: boolean }[] = [];
    if (session.me && (session.status === "joined" || session.status === "connecting")) {
      const me = {
        ...session.me,
        audio_muted: !session.micOn,
        video_muted: !session.cameraOn,
      };
      everyone.push({ person: me, self: true });
      const others = [...session.participants.values()];
      // raised hands first, in the order they joined otherwise
      others.sort((a, b) => Number(b.hand_raised) - Number(a.hand_raised));
      for (const person of others) everyone.push({ person, self: false });
    }
    this.title.textContent = t("room.people_count", { count: everyone.length });
    const wanted = new Set(everyone.map((e) => e.person.user_id));
    for (const [userId, entry] of this.rows) {
      if (!wanted.has(userId)) {
        entry.row.remove();
        this.rows.delete(userId);
      }
    }
    everyone.forEach(({ person, self }, index) => {
      const drawn = JSON.stringify([person, self, session.me?.role, session.isManager]);
      let entry = this.rows.get(person.user_id);
      if (!entry || entry.drawn !== drawn) {
        const row = this.row(person, self);
        if (entry) {
          const focused = entry.row.contains(document.activeElement)
            ? (document.activeElement as HTMLElement).dataset.testid
            : undefined;
          entry.row.replaceWith(row);
          if (focused) row.querySelector<HTMLElement>(`[data-testid="${focused}"]`)?.focus();
        }
        entry = { row, drawn };
        this.rows.set(person.user_id, entry);
      }
      if (this.list.children[index] !== entry.row) this.list.insertBefore(entry.row, this.list.children[index] ?? null);
    });
  }

  private renderLobby(): void {
    const waiting = [...this.session.lobby.values()];
    this.lobbySection.hidden = !this.session.isManager || waiting.length === 0;
    this.lobbyTitle.textContent = t("room.lobby_count", { count: waiting.length });
    this.lobbyList.replaceChildren(...waiting.map((entry) => this.lobbyRow(entry)));
  }

  private lobbyRow(entry: LobbyEntry): HTMLElement {
    const admit = h(
      "button",
      { type: "button", class: "primary", "data-testid": "lobby-admit", "aria-label": t("room.admit_person", { name: entry.display_name }) },
      t("room.admit"),
    );
    const deny = h(
      "button",
      { type: "button", "data-testid": "lobby-deny", "aria-label": t("room.deny_person", { name: entry.display_name }) },
      t("room.deny"),
    );
    admit.addEventListener("click", () => {
      admit.disabled = deny.disabled = true;
      this.session.decide(entry.user_id, true);
    });
    deny.addEventListener("click", () => {
      admit.disabled = deny.disabled = true;
      this.session.decide(entry.user_id, false);
    });
    return h(
      "li",
      { "data-testid": "lobby-entry", "data-user-id": entry.user_id },
      h("span", { class: "who" }, entry.display_name),
      h("span", { class: "status" }, t("room.asked_at", { time: clock(entry.requested_at) })),
      h("span", { class: "row-actions" }, admit, deny),
    );
  }

  private row(person: ParticipantInfo, self: boolean): HTMLElement {
    const name = person.display_name;
    const states: (HTMLElement | null)[] = [
      person.hand_raised
        ? h("span", { class: "state hand", "data-testid": "person-hand" }, t("room.hand_raised"))
        : null,
      person.audio_muted ? h("span", { class: "state", "data-testid": "person-mic-off" }, t("room.mic_off")) : null,
      person.video_muted ? h("span", { class: "state", "data-testid": "person-camera-off" }, t("room.camera_off")) : null,
    ];
    const row = h(
      "li",
      { "data-testid": "person", "data-user-id": person.user_id, "data-role": person.role },
      h(
        "div",
        { class: "who" },
        h("strong", {}, self ? t("room.you_named", { name }) : name),
        " ",
        h("span", { class: "role", "data-testid": "person-role" }, roleName(person.role)),
      ),
      h("div", { class: "states" }, ...states),
    );
    const controls = this.managerControls(person, self);
    if (controls) row.append(controls);
    return row;
  }

  private managerControls(person: ParticipantInfo, self: boolean): HTMLElement | null {
    const session = this.session;
    if (self || !session.isManager) return null;
    const name = person.display_name;
    const amHost = session.me?.role === "host";
    const targetIsManager = person.role === "host" || person.role === "co_host";
    const controls = h("div", { class: "row-actions" });

    const mute = h(
      "button",
      { type: "button", "data-testid": "person-mute", "aria-label": t("room.mute_person", { name }), disabled: person.audio_muted },
      t("room.mute_short"),
    );
    mute.addEventListener("click", () => this.actions.mute(person));
    controls.append(mute);

    // co-hosts may only move people between presenter and participant (docs/signaling.md)
    const choices: Role[] = amHost ? [...ROLES] : ["presenter", "participant"];
    if (amHost || !targetIsManager) {
      const select = h("select", { "data-testid": "person-role-select", "aria-label": t("room.role_of", { name }) });
      for (const role of choices) {
        select.append(h("option", { value: role, selected: role === person.role }, roleName(role)));
      }
      select.value = person.role;
      select.addEventListener("change", () => this.actions.changeRole(person, select.value as Role, select));
      controls.append(select);
    }

    if (person.role !== "host" && (amHost || !targetIsManager)) {
      const remove = h(
        "button",
        { type: "button", class: "danger", "data-testid": "person-remove", "aria-label": t("room.remove_person", { name }) },
        t("room.remove_short"),
      );
      remove.addEventListener("click", () => this.actions.remove(person));
      controls.append(remove);
    }
    return controls;
  }
}
