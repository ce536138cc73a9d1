// The room page: tiles, controls, chat, notices. All state lives in RoomSession; this file
// only draws it (and turns clicks into session calls).

import { h, setAttr } from "../ui/dom";
import type { ParticipantInfo } from "./protocol";
import { tileKey, type Change, type RemoteMedia, type RoomSession, type TileSource } from "./session";

interface Tile {
  root: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement;
  name: HTMLElement;
  muted: HTMLElement;
  actions: HTMLElement;
  videoTrack: MediaStreamTrack | null;
  audioTrack: MediaStreamTrack | null;
}

function attach(element: HTMLMediaElement, track: MediaStreamTrack | null): void {
  element.srcObject = track ? new MediaStream([track]) : null;
  if (track) element.play().catch(() => undefined); // autoplay rules may refuse; controls retry
}

export function renderRoom(root: HTMLElement, session: RoomSession, home: () => void): void {
  const title = h("h1", { "data-testid": "meeting-title" }, "Joining…");
  const status = h("span", { class: "status", "data-testid": "room-status" }, "connecting");
  const alert = h("div", { class: "alert", role: "alert", "data-testid": "room-error", hidden: true });
  const info = h("div", { class: "info", role: "status", "data-testid": "room-notice", hidden: true });
  const grid = h("div", { class: "grid", "data-testid": "tiles", "aria-label": "People in the meeting" });
  const ended = h("div", { class: "ended", role: "status", "data-testid": "room-ended", hidden: true });

  const micButton = h("button", { type: "button", "data-testid": "toggle-mic" });
  const cameraButton = h("button", { type: "button", "data-testid": "toggle-camera" });
  const screenButton = h("button", { type: "button", "data-testid": "toggle-screen" });
  const leaveButton = h("button", { type: "button", class: "leave", "data-testid": "leave" }, "Leave");
  const controls = h(
    "nav",
    { class: "controls", "aria-label": "Meeting controls" },
    micButton,
    cameraButton,
    screenButton,
    leaveButton,
  );

  const chatList = h("ol", { class: "chat-list", "data-testid": "chat-messages", "aria-label": "Chat messages" });
  const chatInput = h("input", {
    type: "text",
    name: "message",
    maxlength: 4000,
    autocomplete: "off",
    "aria-label": "Chat message",
    placeholder: "Write a message",
    "data-testid": "chat-input",
  });
  const chatForm = h(
    "form",
    { class: "chat-form", "data-testid": "chat-form" },
    chatInput,
    h("button", { type: "submit", "data-testid": "chat-send" }, "Send"),
  );
  const chatOff = h("p", { class: "status", "data-testid": "chat-off", hidden: true }, "Chat is turned off in this meeting.");
  const chat = h("aside", { class: "chat", "aria-label": "Chat" }, h("h2", {}, "Chat"), chatList, chatOff, chatForm);

  const room = h(
    "section",
    { class: "room", "data-testid": "room" },
    h("header", {}, title, status),
    alert,
    info,
    ended,
    h("div", { class: "stage" }, grid, chat),
    controls,
  );
  root.replaceChildren(room);

  // --- tiles ---------------------------------------------------------------------------------

  const tiles = new Map<string, Tile>();

  function makeTile(key: string, self: boolean): Tile {
    const video = h("video", { autoplay: true, playsinline: true, muted: true });
    video.muted = true; // the attribute alone does not mute a srcObject stream in every browser
    const audio = h("audio", { autoplay: true });
    const name = h("figcaption", { "data-testid": "tile-name" });
    const muted = h("span", { class: "muted", "data-testid": "tile-muted", hidden: true }, "Microphone off");
    const actions = h("div", { class: "tile-actions" });
    const placeholder = h("div", { class: "placeholder", "aria-hidden": "true" });
    const figure = h(
      "figure",
      { class: "tile", "data-testid": self ? "self-tile" : "tile", "data-key": key },
      video,
      placeholder,
      self ? null : audio,
      name,
      muted,
      actions,
    );
    return { root: figure, video, audio, name, muted, actions, videoTrack: null, audioTrack: null };
  }

  function updateTile(
    tile: Tile,
    person: ParticipantInfo | null,
    source: TileSource,
    media: { video: MediaStreamTrack | null; audio: MediaStreamTrack | null },
    label: string,
  ): void {
    if (tile.videoTrack !== media.video) {
      tile.videoTrack = media.video;
      attach(tile.video, media.video);
    }
    if (tile.audioTrack !== media.audio) {
      tile.audioTrack = media.audio;
      attach(tile.audio, media.audio);
    }
    const userId = person?.user_id ?? "";
    const audioMuted = source === "camera" && !!person?.audio_muted;
    const videoOff = !media.video || (source === "camera" && !!person?.video_muted);
    tile.name.textContent = label;
    tile.root.setAttribute("aria-label", label);
    tile.root.dataset.userId = userId;
    tile.root.dataset.source = source;
    tile.root.dataset.audioMuted = String(audioMuted);
    tile.root.dataset.videoMuted = String(videoOff);
    const speaking = source === "camera" && userId !== "" && session.activeSpeaker === userId;
    tile.root.dataset.speaking = String(speaking);
    tile.root.classList.toggle("speaking", speaking);
    tile.root.classList.toggle("no-video", videoOff);
    tile.muted.hidden = !audioMuted;
    const placeholder = tile.root.querySelector(".placeholder");
    if (placeholder) placeholder.textContent = (person?.display_name ?? "?").slice(0, 1).toUpperCase();
  }

  function managerActions(tile: Tile, person: ParticipantInfo): void {
    if (!session.isManager || tile.actions.childElementCount > 0) return;
    const mute = h(
      "button",
      { type: "button", "data-testid": "mute-participant", "aria-label": `Mute ${person.display_name}` },
      "Mute",
    );
    const remove = h(
      "button",
      {
        type: "button",
        "data-testid": "remove-participant",
        "aria-label": `Remove ${person.display_name} from the meeting`,
      },
      "Remove",
    );
    mute.addEventListener("click", () => session.muteParticipant(person.user_id));
    remove.addEventListener("click", () => session.removeParticipant(person.user_id));
    tile.actions.append(mute, remove);
  }

  function renderTiles(): void {
    const wanted: string[] = [];
    const live = session.status === "joined" || session.status === "connecting";
    if (live) {
      wanted.push("self");
      let tile = tiles.get("self");
      if (!tile) tiles.set("self", (tile = makeTile("self", true)));
      const video = session.localStream?.getVideoTracks()[0] ?? null;
      const me = session.me;
      updateTile(
        tile,
        me
          ? {
              ...me,
              audio_muted: !session.micOn && (session.localStream?.getAudioTracks().length ?? 0) > 0,
              video_muted: !session.cameraOn,
            }
          : null,
        "camera",
        { video, audio: null },
        `You${me ? ` (${me.display_name})` : ""}`,
      );
      for (const person of session.participants.values()) {
        const remoteCamera: RemoteMedia | undefined = session.remote.get(tileKey(person.user_id, "camera"));
        const key = tileKey(person.user_id, "camera");
        wanted.push(key);
        let cameraTile = tiles.get(key);
        if (!cameraTile) tiles.set(key, (cameraTile = makeTile(key, false)));
        updateTile(
          cameraTile,
          person,
          "camera",
          { video: remoteCamera?.video ?? null, audio: remoteCamera?.audio ?? null },
          person.display_name,
        );
        managerActions(cameraTile, person);
        const screen = session.remote.get(tileKey(person.user_id, "screen"));
        if (screen?.video) {
          const screenKey = screen.key;
          wanted.push(screenKey);
          let screenTile = tiles.get(screenKey);
          if (!screenTile) tiles.set(screenKey, (screenTile = makeTile(screenKey, false)));
          updateTile(screenTile, person, "screen", screen, `${person.display_name}'s screen`);
        }
      }
    }
    for (const [key, tile] of tiles) {
      if (!wanted.includes(key)) {
        attach(tile.video, null);
        attach(tile.audio, null);
        tile.root.remove();
        tiles.delete(key);
      }
    }
    wanted.forEach((key, index) => {
      const tile = tiles.get(key)!;
      if (grid.children[index] !== tile.root) grid.insertBefore(tile.root, grid.children[index] ?? null);
    });
    grid.dataset.count = String(wanted.length);
  }

  // --- controls, chat, notices ---------------------------------------------------------------

  function renderControls(): void {
    const live = session.status === "joined";
    const hasMic = (session.localStream?.getAudioTracks().length ?? 0) > 0;
    const hasCamera = (session.localStream?.getVideoTracks().length ?? 0) > 0;
    micButton.textContent = session.micOn ? "Mute" : "Unmute";
    micButton.setAttribute("aria-label", session.micOn ? "Mute microphone" : "Unmute microphone");
    micButton.setAttribute("aria-pressed", String(!session.micOn));
    micButton.disabled = !live || !hasMic;
    cameraButton.textContent = session.cameraOn ? "Stop camera" : "Start camera";
    cameraButton.setAttribute("aria-label", session.cameraOn ? "Turn camera off" : "Turn camera on");
    cameraButton.setAttribute("aria-pressed", String(!session.cameraOn));
    cameraButton.disabled = !live || !hasCamera;
    screenButton.textContent = session.sharing ? "Stop sharing" : "Share screen";
    screenButton.setAttribute("aria-label", session.sharing ? "Stop sharing your screen" : "Share your screen");
    screenButton.setAttribute("aria-pressed", String(session.sharing));
    screenButton.disabled =
      !live || !("getDisplayMedia" in navigator.mediaDevices) || session.meetingSettings.screen_share === false;
    leaveButton.disabled = !live;
    controls.hidden = !live;
    const chatAllowed = session.meetingSettings.chat !== false;
    chatForm.hidden = !live || !chatAllowed;
    chatOff.hidden = chatAllowed;
  }

  function renderStatus(): void {
    title.textContent = session.meetingTitle || "Meeting";
    status.textContent = session.status;
    room.dataset.status = session.status;
    if (session.status !== "joined" && session.status !== "connecting") {
      ended.hidden = false;
      const back = h("button", { type: "button", "data-testid": "back-home" }, "Back to start");
      back.addEventListener("click", home);
      ended.replaceChildren(h("p", {}, session.endReason), back);
    }
    renderControls();
    renderTiles();
  }

  function renderChat(): void {
    for (const message of session.chat.slice(chatList.childElementCount)) {
      const mine = message.sender.user_id === session.me?.user_id;
      chatList.append(
        h(
          "li",
          { "data-testid": "chat-message", "data-sender": message.sender.user_id, class: mine ? "mine" : null },
          h("strong", {}, mine ? "You" : message.sender.display_name),
          " ",
          h("span", { class: "body" }, message.body),
        ),
      );
    }
    chatList.lastElementChild?.scrollIntoView({ block: "nearest" });
  }

  function renderNotices(): void {
    const last = session.notices[session.notices.length - 1];
    if (!last) return;
    const target = last.level === "error" ? alert : info;
    target.textContent = last.text;
    target.hidden = false;
    if (last.code) target.dataset.code = last.code;
    setAttr(target, "data-count", String(session.notices.filter((n) => n.level === last.level).length));
  }

  micButton.addEventListener("click", () => session.toggleMic());
  cameraButton.addEventListener("click", () => session.toggleCamera());
  screenButton.addEventListener("click", () => {
    void (session.sharing ? session.stopScreenShare() : session.startScreenShare());
  });
  leaveButton.addEventListener("click", () => session.leave());
  chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    session.sendChat(chatInput.value);
    chatInput.value = "";
  });

  session.addEventListener("change", (event) => {
    const change = (event as CustomEvent<Change>).detail;
    switch (change) {
      case "status":
        renderStatus();
        break;
      case "chat":
        renderChat();
        break;
      case "notice":
        renderNotices();
        break;
      case "local":
        renderControls();
        renderTiles();
        break;
      default:
        renderTiles();
    }
  });
  renderStatus();
}
