// The stage: one tile per camera (with its microphone) and per screen share. A grid that fits
// the stage, or, while a screen is shared, a spotlight: shares big, people in a strip.

import { t } from "../i18n";
import { h } from "../ui/dom";
import { describeCue, emotionEmoji, emotionName } from "./emotion";
import { chooseMode, gridLayout } from "./layout";
import type { ParticipantInfo } from "./protocol";
import { tileKey, type RoomSession, type TileSource } from "./session";

export interface TileActions {
  mute(person: ParticipantInfo): void;
  remove(person: ParticipantInfo): void;
}

interface Tile {
  root: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement;
  name: HTMLElement;
  muted: HTMLElement;
  hand: HTMLElement;
  /** The latest emotion cue (hidden without one, or while cues are off). */
  emotion: HTMLElement;
  /** What `emotion` shows ("" when hidden), so that it changes only when the cue does. */
  emotionShown: string;
  placeholder: HTMLElement;
  actions: HTMLElement;
  /** Whose manager buttons `actions` holds ("" when none). */
  actionsFor: string;
  videoTrack: MediaStreamTrack | null;
  audioTrack: MediaStreamTrack | null;
}

interface Wanted {
  key: string;
  person: ParticipantInfo | null;
  self: boolean;
  source: TileSource;
  video: MediaStreamTrack | null;
  audio: MediaStreamTrack | null;
  label: string;
}

function attach(element: HTMLMediaElement, track: MediaStreamTrack | null): void {
  element.srcObject = track ? new MediaStream([track]) : null;
  if (track) element.play().catch(() => undefined); // autoplay rules may refuse; controls retry
}

export class Stage {
  readonly element: HTMLElement;
  private readonly featured: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly tiles = new Map<string, Tile>();
  private readonly observer: ResizeObserver | null;
  private emotionTimer: number | undefined;

  constructor(
    private readonly session: RoomSession,
    private readonly actions: TileActions,
  ) {
    this.featured = h("div", { class: "featured", "data-testid": "spotlight", "aria-label": t("room.shared_screens") });
    this.grid = h("div", { class: "grid", "data-testid": "tiles", "aria-label": t("room.people_tiles") });
    this.element = h("main", { class: "stage", "data-layout": "grid" }, this.featured, this.grid);
    this.observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => this.layout());
    this.observer?.observe(this.element);
  }

  destroy(): void {
    this.observer?.disconnect();
    window.clearTimeout(this.emotionTimer);
  }

  /** Show everyone's latest emotion cue (camera tiles only), and hide each a few seconds after
   * its last update. */
  renderEmotions(): void {
    for (const tile of this.tiles.values()) this.showEmotion(tile);
    window.clearTimeout(this.emotionTimer);
    const next = this.session.emotions.nextExpiry(Date.now());
    if (next !== null) {
      this.emotionTimer = window.setTimeout(() => this.renderEmotions(), Math.max(0, next - Date.now()) + 20);
    }
  }

  private showEmotion(tile: Tile): void {
    const session = this.session;
    const userId = tile.root.dataset.userId ?? "";
    const wanted = session.aiEnabled && session.emotionCues && userId !== "" && tile.root.dataset.source === "camera";
    const cue = wanted ? session.emotions.get(userId, Date.now()) : null;
    const shown = cue ? `${cue.label}:${Math.round(cue.score * 100)}` : "";
    if (shown === tile.emotionShown) return;
    tile.emotionShown = shown;
    tile.emotion.hidden = !cue;
    if (!cue) {
      tile.emotion.replaceChildren();
      return;
    }
    const text = describeCue("face", cue.label, cue.score);
    tile.emotion.dataset.emotion = cue.label;
    tile.emotion.title = text;
    tile.emotion.setAttribute("aria-label", text);
    tile.emotion.replaceChildren(h("span", { "aria-hidden": "true" }, emotionEmoji(cue.label)), " ", emotionName(cue.label));
  }

  render(): void {
    const wanted = this.wanted();
    for (const [key, tile] of this.tiles) {
      if (!wanted.some((w) => w.key === key)) {
        attach(tile.video, null);
        attach(tile.audio, null);
        tile.root.remove();
        this.tiles.delete(key);
      }
    }
    const screens = wanted.filter((w) => w.source === "screen");
    const people = wanted.filter((w) => w.source !== "screen");
    const mode = chooseMode(screens.length);
    this.element.dataset.layout = mode;
    this.place(this.featured, mode === "spotlight" ? screens : []);
    this.place(this.grid, mode === "spotlight" ? people : wanted);
    this.featured.hidden = mode !== "spotlight";
    this.grid.dataset.count = String(wanted.length);
    this.layout();
  }

  /** Size the grid to the stage (the spotlight's strip is sized by CSS). */
  layout(): void {
    if (this.element.dataset.layout !== "grid") {
      this.grid.style.gridTemplateColumns = "";
      return;
    }
    const style = getComputedStyle(this.grid);
    const width = this.grid.clientWidth - parseFloat(style.paddingLeft || "0") - parseFloat(style.paddingRight || "0");
    const height = this.grid.clientHeight - parseFloat(style.paddingTop || "0") - parseFloat(style.paddingBottom || "0");
    if (width <= 0 || height <= 0) return;
    const grid = gridLayout(this.tiles.size, width, height);
    this.grid.style.gridTemplateColumns = `repeat(${grid.columns}, ${grid.tileWidth}px)`;
    this.grid.dataset.columns = String(grid.columns);
  }

  private wanted(): Wanted[] {
    const session = this.session;
    if (session.status !== "joined" && session.status !== "connecting") return [];
    const me = session.me;
    const wanted: Wanted[] = [
      {
        key: "self",
        self: true,
        person: me
          ? {
              ...me,
              audio_muted: !session.micOn && (session.localStream?.getAudioTracks().length ?? 0) > 0,
              video_muted: !session.cameraOn,
            }
          : null,
        source: "camera",
        video: session.localStream?.getVideoTracks()[0] ?? null,
        audio: null,
        label: me ? t("room.you_named", { name: me.display_name }) : t("room.you"),
      },
    ];
    for (const person of session.participants.values()) {
      const camera = session.remote.get(tileKey(person.user_id, "camera"));
      wanted.push({
        key: tileKey(person.user_id, "camera"),
        self: false,
        person,
        source: "camera",
        video: camera?.video ?? null,
        audio: camera?.audio ?? null,
        label: person.display_name,
      });
      const screen = session.remote.get(tileKey(person.user_id, "screen"));
      if (screen?.video) {
        wanted.push({
          key: screen.key,
          self: false,
          person,
          source: "screen",
          video: screen.video,
          audio: screen.audio,
          label: t("room.screen_of", { name: person.display_name }),
        });
      }
    }
    return wanted;
  }

  private place(container: HTMLElement, wanted: Wanted[]): void {
    wanted.forEach((w, index) => {
      let tile = this.tiles.get(w.key);
      if (!tile) this.tiles.set(w.key, (tile = this.makeTile(w)));
      this.update(tile, w);
      // insertBefore moves a playing <video> without pausing it (one atomic move)
      if (container.children[index] !== tile.root) container.insertBefore(tile.root, container.children[index] ?? null);
    });
  }

  private makeTile(w: Wanted): Tile {
    const video = h("video", { autoplay: true, playsinline: true, muted: true });
    video.muted = true; // the attribute alone does not mute a srcObject stream in every browser
    const audio = h("audio", { autoplay: true });
    const name = h("figcaption", { "data-testid": "tile-name" });
    const muted = h("span", { class: "badge muted", "data-testid": "tile-muted", hidden: true }, t("room.mic_off"));
    const hand = h("span", { class: "badge hand", "data-testid": "tile-hand", hidden: true }, t("room.hand_raised"));
    const emotion = h("span", { class: "badge emotion", role: "img", "data-testid": "tile-emotion", hidden: true });
    const placeholder = h("div", { class: "placeholder", "aria-hidden": "true" });
    const actions = h("div", { class: "tile-actions" });
    const root = h(
      "figure",
      { class: "tile", "data-testid": w.self ? "self-tile" : "tile", "data-key": w.key },
      video,
      placeholder,
      w.self ? null : audio,
      name,
      h("div", { class: "badges" }, hand, muted, emotion),
      actions,
    );
    return {
      root,
      video,
      audio,
      name,
      muted,
      hand,
      emotion,
      emotionShown: "",
      placeholder,
      actions,
      actionsFor: "",
      videoTrack: null,
      audioTrack: null,
    };
  }

  private update(tile: Tile, w: Wanted): void {
    if (tile.videoTrack !== w.video) {
      tile.videoTrack = w.video;
      attach(tile.video, w.video);
    }
    if (tile.audioTrack !== w.audio) {
      tile.audioTrack = w.audio;
      attach(tile.audio, w.audio);
    }
    const person = w.person;
    const userId = person?.user_id ?? "";
    const camera = w.source === "camera";
    const audioMuted = camera && !!person?.audio_muted;
    const videoOff = !w.video || (camera && !!person?.video_muted);
    const speaking = camera && userId !== "" && this.session.activeSpeaker === userId;
    const hand = camera && !!person?.hand_raised;
    tile.name.textContent = w.label;
    tile.root.setAttribute("aria-label", w.label);
    Object.assign(tile.root.dataset, {
      userId,
      source: w.source,
      audioMuted: String(audioMuted),
      videoMuted: String(videoOff),
      speaking: String(speaking),
      hand: String(hand),
    });
    tile.root.classList.toggle("speaking", speaking);
    tile.root.classList.toggle("no-video", videoOff);
    tile.muted.hidden = !audioMuted;
    tile.hand.hidden = !hand;
    tile.placeholder.textContent = (person?.display_name ?? "?").slice(0, 1).toUpperCase();
    this.showEmotion(tile);
    this.managerButtons(tile, w);
  }

  /** Mute and remove on other people's camera tiles, for hosts and co-hosts. */
  private managerButtons(tile: Tile, w: Wanted): void {
    const person = w.person;
    const wantFor = this.session.isManager && !w.self && w.source === "camera" && person ? person.user_id : "";
    if (tile.actionsFor === wantFor) return;
    tile.actionsFor = wantFor;
    tile.actions.replaceChildren();
    if (!wantFor || !person) return;
    const mute = h(
      "button",
      { type: "button", "data-testid": "mute-participant", "aria-label": t("room.mute_person", { name: person.display_name }) },
      t("room.mute_short"),
    );
    const remove = h(
      "button",
      { type: "button", "data-testid": "remove-participant", "aria-label": t("room.remove_person", { name: person.display_name }) },
      t("room.remove_short"),
    );
    mute.addEventListener("click", () => this.actions.mute(person));
    remove.addEventListener("click", () => this.actions.remove(person));
    tile.actions.append(mute, remove);
  }
}
