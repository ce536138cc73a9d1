// The room page: header (title, status, recording indicator, connection quality), stage (tiles,
// captions), side panels (chat, people, transcript), controls, notices and announcements. All
// state lives in RoomSession; this file only draws it and turns clicks into session calls.

import { synthesize, SYNTHESIS_MAX_CHARS } from "../api/ai";
import { t } from "../i18n";
import { h, setAttr } from "../ui/dom";
import { AiMenu } from "./aimenu";
import { AnnounceForm } from "./announce";
import { AudioPlayer } from "./audio";
import { CaptionStrip } from "./captionstrip";
import { ChatPanel } from "./chatpanel";
import { DevicePicker } from "./devices";
import { confirmAction } from "./dialog";
import { NARROW_PX } from "./layout";
import { PeoplePanel } from "./people";
import { preference, savePreference } from "./prefs";
import type { AnnouncementFrame, ChatFrame, ParticipantInfo, Role } from "./protocol";
import { classify, summarize, type Quality, type Totals } from "./quality";
import { ReadAloudQueue } from "./readAloud";
import { RecordingIndicator } from "./recordingbadge";
import type { Change, RoomSession } from "./session";
import { Stage } from "./tiles";
import { TranscriptPanel } from "./transcriptpanel";

const QUALITY_EVERY_MS = 2000;
const TOAST_MS = 10_000;
const ANNOUNCEMENT_MS = 30_000;

type PanelName = "chat" | "people" | "transcript";

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function renderRoom(root: HTMLElement, session: RoomSession, home: () => void): void {
  const title = h("h1", { "data-testid": "meeting-title" }, t("room.joining"));
  const status = h("span", { class: "status", "data-testid": "room-status" });
  const quality = h("span", { class: "quality", role: "status", "data-testid": "connection-quality", "data-level": "unknown" });
  const sharing = h("span", { class: "pill", "data-testid": "sharing-banner", hidden: true }, t("room.you_are_sharing"));
  const recording = new RecordingIndicator();
  const alert = h("div", { class: "alert", role: "alert", "data-testid": "room-error", hidden: true });
  const info = h("div", { class: "info", role: "status", "data-testid": "room-notice", hidden: true });
  const ended = h("div", { class: "ended", role: "status", "data-testid": "room-ended", hidden: true });
  const toasts = h("div", { class: "toasts", "aria-live": "polite", "data-testid": "toasts" });
  const announcer = h("div", { class: "visually-hidden", "aria-live": "polite", "data-testid": "room-announcer" });

  const narrow = () => window.innerWidth < NARROW_PX + 80;
  let openPanel: PanelName | null = narrow() ? null : "chat";

  const stage = new Stage(session, {
    mute: (person) => session.muteParticipant(person.user_id),
    remove: (person) => void removePerson(person),
  });
  const chat = new ChatPanel(session, openPanel === "chat", () => closePanel(), onChatMessage);
  const people = new PeoplePanel(session, () => closePanel(), {
    mute: (person) => session.muteParticipant(person.user_id),
    remove: (person) => void removePerson(person),
    changeRole: (person, role, select) => void changeRole(person, role, select),
  });
  const devices = new DevicePicker(session);
  const transcript = new TranscriptPanel(session, () => closePanel());
  const captions = new CaptionStrip();
  stage.element.append(captions.element);
  let captionsOn = preference("captions");
  let captionsSeen = 0;

  // chat read aloud: synthesized one message at a time; a failure is told once, not per message
  let readAloudOn = preference("readAloud");
  const readAloud = new ReadAloudQueue(
    (text, signal) => synthesize(text.slice(0, SYNTHESIS_MAX_CHARS), undefined, signal),
    new AudioPlayer(),
    (error) => toast(t("ai.read_aloud_failed", { detail: messageOf(error) })),
  );
  const aiMenu = new AiMenu(
    { emotionCues: session.emotionCues, readAloud: readAloudOn },
    {
      emotionCues: (on) => {
        savePreference("emotionCues", on);
        session.setEmotionCues(on); // hides them here, and stops the analysis of one's own face
        renderCues();
      },
      readAloud: (on) => {
        savePreference("readAloud", on);
        readAloudOn = on;
        renderControls();
      },
    },
  );
  const announceForm = new AnnounceForm(
    (text) => session.announce(text),
    () => closePopover(),
  );
  const announcementPlayer = new AudioPlayer();
  let announcementsSeen = 0;

  // --- controls ------------------------------------------------------------------------------

  const button = (testid: string, extra: Record<string, string> = {}) =>
    h("button", { type: "button", "data-testid": testid, ...extra });
  const micButton = button("toggle-mic");
  const cameraButton = button("toggle-camera");
  const devicesButton = button("toggle-devices", { "aria-controls": "room-devices" });
  const screenButton = button("toggle-screen");
  const handButton = button("toggle-hand");
  const chatBadge = h("span", { class: "count", "data-testid": "chat-unread", hidden: true });
  const chatButton = h("button", { type: "button", "data-testid": "toggle-chat", "aria-controls": "room-chat" }, t("room.chat"), chatBadge);
  const lobbyBadge = h("span", { class: "count", "data-testid": "lobby-count", hidden: true });
  const peopleButton = h(
    "button",
    { type: "button", "data-testid": "toggle-people", "aria-controls": "room-people" },
    t("room.people"),
    lobbyBadge,
  );
  const transcriptButton = h(
    "button",
    { type: "button", "data-testid": "toggle-transcript", "aria-controls": "room-transcript", hidden: true },
    t("ai.transcript"),
  );
  const captionsButton = button("toggle-captions", { "aria-controls": "room-captions", "aria-label": t("ai.captions") });
  captionsButton.textContent = t("ai.captions_short");
  const aiButton = button("toggle-ai", { "aria-controls": "room-ai", "aria-label": t("ai.menu") });
  aiButton.textContent = t("ai.menu_short");
  const announceButton = button("toggle-announce", { "aria-controls": "room-announce", "aria-label": t("ai.announce_action") });
  announceButton.textContent = t("ai.announce");
  captions.element.id = "room-captions";
  const recordButton = button("toggle-recording", { class: "record" });
  const leaveButton = h("button", { type: "button", class: "leave", "data-testid": "leave" }, t("room.leave"));
  const endButton = h("button", { type: "button", class: "danger", "data-testid": "end-meeting", hidden: true }, t("room.end_for_all"));
  devicesButton.textContent = t("room.devices_short");
  devicesButton.setAttribute("aria-label", t("room.devices"));
  const controls = h(
    "nav",
    { class: "controls", "aria-label": t("room.controls") },
    h("div", { class: "group" }, micButton, cameraButton, devicesButton, screenButton, handButton),
    h("div", { class: "group" }, chatButton, peopleButton, transcriptButton),
    h("div", { class: "group" }, captionsButton, aiButton, announceButton),
    h("div", { class: "group" }, recordButton, leaveButton, endButton),
    devices.element,
    aiMenu.element,
    announceForm.element,
  );

  const body = h("div", { class: "room-body" }, stage.element, chat.element, people.element, transcript.element);
  const room = h(
    "section",
    { class: "room", "data-testid": "room" },
    h("header", {}, title, status, recording.element, sharing, quality),
    alert,
    info,
    ended,
    body,
    controls,
    toasts,
    announcer,
  );
  root.replaceChildren(room);

  // --- panels --------------------------------------------------------------------------------

  function showPanel(name: PanelName | null, focus = false): void {
    openPanel = name;
    chat.setOpen(name === "chat");
    people.setOpen(name === "people");
    transcript.setOpen(name === "transcript");
    room.dataset.panel = name ?? "";
    renderToggles();
    stage.layout();
    if (focus && name === "chat") chat.focus();
    if (focus && name === "people") people.focus();
    if (focus && name === "transcript") transcript.focus();
  }

  /** Close the open panel and give focus back to its toggle (the panel's own button is gone). */
  function closePanel(): void {
    const toggle = openPanel === "people" ? peopleButton : openPanel === "transcript" ? transcriptButton : chatButton;
    showPanel(null);
    toggle.focus();
  }

  function renderToggles(): void {
    const unread = chat.unread.count;
    chatBadge.textContent = String(unread);
    chatBadge.hidden = unread === 0;
    chatButton.setAttribute("aria-expanded", String(openPanel === "chat"));
    chatButton.setAttribute("aria-label", unread ? t("room.chat_unread", { count: unread }) : t("room.chat"));
    const waiting = session.isManager ? session.lobby.size : 0;
    lobbyBadge.textContent = String(waiting);
    lobbyBadge.hidden = waiting === 0;
    peopleButton.setAttribute("aria-expanded", String(openPanel === "people"));
    peopleButton.setAttribute("aria-label", waiting ? t("room.people_waiting", { count: waiting }) : t("room.people"));
    transcriptButton.setAttribute("aria-expanded", String(openPanel === "transcript"));
  }

  // --- popovers over the controls (one open at a time) ----------------------------------------

  type PopoverName = "devices" | "ai" | "announce";
  const popoverButtons: Record<PopoverName, HTMLButtonElement> = {
    devices: devicesButton,
    ai: aiButton,
    announce: announceButton,
  };

  function openPopover(): PopoverName | null {
    return devices.isOpen ? "devices" : aiMenu.isOpen ? "ai" : announceForm.isOpen ? "announce" : null;
  }

  async function showPopover(name: PopoverName | null): Promise<void> {
    aiMenu.setOpen(name === "ai");
    announceForm.setOpen(name === "announce");
    const devicesShown = devices.setOpen(name === "devices"); // shown at once, filled after
    renderControls();
    if (name === "ai") aiMenu.focus();
    if (name === "announce") announceForm.focus();
    await devicesShown;
    renderControls();
    if (name === "devices") devices.focus();
  }

  /** Close the open popover and give focus back to its button. */
  function closePopover(): void {
    const open = openPopover();
    void showPopover(null);
    if (open) popoverButtons[open].focus();
  }

  // --- moderation ----------------------------------------------------------------------------

  async function removePerson(person: ParticipantInfo): Promise<void> {
    const sure = await confirmAction(room, t("room.confirm_remove", { name: person.display_name }), t("room.remove_short"));
    if (sure) session.removeParticipant(person.user_id);
  }

  async function changeRole(person: ParticipantInfo, role: Role, select: HTMLSelectElement): Promise<void> {
    if (role === "host") {
      const sure = await confirmAction(
        room,
        t("room.confirm_make_host", { name: person.display_name }),
        t("room.make_host"),
      );
      if (!sure) {
        select.value = person.role; // unchanged: show the role they still have
        return;
      }
    }
    session.changeRole(person.user_id, role);
  }

  // --- rendering -----------------------------------------------------------------------------

  function renderControls(): void {
    const live = session.status === "joined";
    const hasMic = (session.localStream?.getAudioTracks().length ?? 0) > 0;
    const hasCamera = (session.localStream?.getVideoTracks().length ?? 0) > 0;
    micButton.textContent = session.micOn ? t("room.mute") : t("room.unmute");
    micButton.setAttribute("aria-label", session.micOn ? t("room.mute_mic") : t("room.unmute_mic"));
    micButton.setAttribute("aria-pressed", String(!session.micOn));
    micButton.disabled = !live || !hasMic;
    cameraButton.textContent = session.cameraOn ? t("room.camera_stop") : t("room.camera_start");
    cameraButton.setAttribute("aria-label", session.cameraOn ? t("room.camera_off_action") : t("room.camera_on_action"));
    cameraButton.setAttribute("aria-pressed", String(!session.cameraOn));
    cameraButton.disabled = !live || !hasCamera;
    devicesButton.disabled = !live;
    devicesButton.setAttribute("aria-expanded", String(devices.isOpen));
    renderAi(live);
    screenButton.textContent = session.sharing ? t("room.share_stop") : t("room.share");
    screenButton.setAttribute("aria-label", session.sharing ? t("room.share_stop_action") : t("room.share_action"));
    screenButton.setAttribute("aria-pressed", String(session.sharing));
    screenButton.disabled =
      !live || !("getDisplayMedia" in navigator.mediaDevices) || session.meetingSettings.screen_share === false;
    const raised = !!session.me?.hand_raised;
    handButton.textContent = raised ? t("room.hand_lower") : t("room.hand_raise");
    handButton.setAttribute("aria-pressed", String(raised));
    handButton.disabled = !live;
    sharing.hidden = !session.sharing;
    leaveButton.disabled = !live;
    endButton.hidden = !live || !session.isManager;
    renderRecordButton(live);
    controls.hidden = !live;
    if (!live && openPopover()) void showPopover(null);
    chat.setLive(live);
    renderToggles();
  }

  /** The AI features: shown only in meetings that have them on. */
  function renderAi(live: boolean): void {
    const ai = live && session.aiEnabled;
    transcriptButton.hidden = captionsButton.hidden = aiButton.hidden = !ai;
    captions.setVisible(ai && captionsOn);
    if (!live) {
      captions.clear();
      announcementPlayer.stop();
    }
    captionsButton.setAttribute("aria-pressed", String(captionsOn));
    captionsButton.title = captionsOn ? t("ai.captions_hide") : t("ai.captions_show");
    aiButton.setAttribute("aria-expanded", String(aiMenu.isOpen));
    if (!ai && aiMenu.isOpen) aiMenu.setOpen(false);
    readAloud.setEnabled(ai && readAloudOn);
    const manager = live && session.isManager;
    announceButton.hidden = !manager;
    announceButton.setAttribute("aria-expanded", String(announceForm.isOpen));
    if (!manager && announceForm.isOpen) announceForm.setOpen(false);
    if (!ai && openPanel === "transcript") showPanel(null);
    renderCues();
  }

  /** Start or stop recording: hosts and co-hosts, in meetings that allow it; it waits for the
   * node's answer (the `recording` frame) before it can be pressed again. */
  function renderRecordButton(live: boolean): void {
    const active = session.recording.active;
    recordButton.hidden = !live || !session.canRecord;
    recordButton.textContent = active ? t("room.recording_stop") : t("room.recording_start");
    recordButton.setAttribute("aria-pressed", String(active));
    recordButton.disabled = !live || session.recordingPending;
    setAttr(recordButton, "aria-busy", session.recordingPending ? "true" : null);
    recordButton.title = session.recordingPending ? t("room.recording_waiting") : "";
  }

  /** Someone's name for the recording messages (null when they are not in the room). */
  function nameOf(userId: string | null): string | null {
    if (!userId) return null;
    if (userId === session.me?.user_id) return session.me.display_name;
    return session.participants.get(userId)?.display_name ?? null;
  }

  let wasRecording: boolean | null = null; // null until joined: the snapshot is said differently
  let recordingErrorsSeen = 0;
  let recordingFailuresSeen = 0;
  function renderRecording(): void {
    const live = session.status === "joined";
    const state = session.recording;
    recording.show(live ? state : { ...state, active: false }, nameOf(state.startedBy));
    if (live && wasRecording !== state.active) {
      if (wasRecording === null) {
        if (state.active) announce(t("room.recording_in_progress"));
      } else if (state.active) {
        const name = nameOf(state.startedBy);
        announce(
          state.startedBy && state.startedBy === session.me?.user_id
            ? t("room.recording_started_by_you")
            : name
              ? t("room.recording_started_by", { name })
              : t("room.recording_started"),
        );
      } else {
        announce(t("room.recording_stopped"));
      }
      wasRecording = state.active;
    }
    for (const problem of session.recordingErrors.slice(recordingErrorsSeen)) {
      toast(problem.text, undefined, { kind: "recording-error" });
    }
    recordingErrorsSeen = session.recordingErrors.length;
    for (const failure of session.recordingFailures.slice(recordingFailuresSeen)) {
      toast(t("room.recording_failed", { reason: failure.reason || t("room.recording_failed_unknown") }), undefined, {
        kind: "recording-failed",
      });
    }
    recordingFailuresSeen = session.recordingFailures.length;
    renderRecordButton(live);
  }

  /** Emotion cues (tile badges, caption tones) show only while the switch is on. */
  function renderCues(): void {
    room.dataset.cues = session.emotionCues ? "on" : "off";
    stage.renderEmotions();
  }

  function renderCaptions(): void {
    const fresh = session.captions.slice(captionsSeen);
    captionsSeen = session.captions.length;
    if (session.aiEnabled) for (const line of fresh) captions.add(line);
    transcript.onCaptions();
  }

  function renderStatus(): void {
    title.textContent = session.meetingTitle || t("room.meeting");
    status.textContent = t(`room.status.${session.status}`);
    room.dataset.status = session.status;
    if (session.status !== "joined" && session.status !== "connecting") {
      ended.hidden = false;
      const back = h("button", { type: "button", "data-testid": "back-home" }, t("room.back"));
      back.addEventListener("click", home);
      ended.replaceChildren(h("p", {}, session.endReason), back);
      stopQuality();
      stage.destroy();
      quality.hidden = true;
      body.hidden = true; // nothing left to see or do but the way back
      toasts.replaceChildren();
    }
    if (session.status === "joined") startQuality();
    renderRecording();
    renderControls();
    stage.render();
    people.render();
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

  // --- announcements and toasts --------------------------------------------------------------

  function announce(text: string): void {
    announcer.textContent = text;
  }

  function toast(
    text: string,
    action?: { label: string; run: () => void },
    options: { kind?: string; ms?: number } = {},
  ): void {
    const close = h("button", { type: "button", class: "close", "aria-label": t("room.dismiss") }, "×");
    const item = h(
      "div",
      { class: options.kind ? `toast ${options.kind}` : "toast", "data-testid": options.kind ? `toast-${options.kind}` : "toast" },
      h("span", {}, text),
    );
    if (action) {
      const go = h("button", { type: "button", class: "primary" }, action.label);
      go.addEventListener("click", () => {
        item.remove();
        action.run();
      });
      item.append(go);
    }
    item.append(close);
    close.addEventListener("click", () => item.remove());
    toasts.append(item);
    window.setTimeout(() => item.remove(), options.ms ?? TOAST_MS);
  }

  function onChatMessage(message: ChatFrame): void {
    if (!chat.isOpen) announce(t("room.announce_chat", { name: message.sender.display_name, body: message.body }));
    readAloud.push(message.body); // when switched on
    renderToggles();
  }

  /** A host's announcement, to everyone (the sender too): a toast, and its spoken version. */
  function showAnnouncement(frame: AnnouncementFrame): void {
    toast(t("ai.announcement", { name: frame.display_name, text: frame.text }), undefined, {
      kind: "announcement",
      ms: ANNOUNCEMENT_MS,
    });
    if (frame.audio_url) void announcementPlayer.playUrl(frame.audio_url).catch(() => undefined); // the text is there
  }

  function renderAnnouncements(): void {
    for (const frame of session.announcements.slice(announcementsSeen)) showAnnouncement(frame);
    announcementsSeen = session.announcements.length;
  }

  let known: Map<string, string> | null = null; // people in the room (id -> name), once joined
  function renderPeopleChanges(): void {
    const now = new Map([...session.participants.values()].map((p) => [p.user_id, p.display_name]));
    if (known) {
      const joined = [...now].filter(([id]) => !known!.has(id)).map(([, name]) => name);
      const left = [...known].filter(([id]) => !now.has(id)).map(([, name]) => name);
      const parts = [
        ...joined.map((name) => t("room.announce_joined", { name })),
        ...left.map((name) => t("room.announce_left", { name })),
      ];
      if (parts.length) announce(parts.join(" "));
    }
    if (session.status === "joined") known = now;
  }

  let lobbySeen = new Set<string>();
  function renderLobby(): void {
    const waiting = session.isManager ? [...session.lobby.values()] : [];
    for (const entry of waiting) {
      if (lobbySeen.has(entry.user_id)) continue;
      const text = t("room.lobby_toast", { name: entry.display_name });
      toast(text, { label: t("room.lobby_review"), run: () => showPanel("people", true) });
      announce(text);
    }
    lobbySeen = new Set(waiting.map((e) => e.user_id));
    people.render();
    renderToggles();
  }

  // --- connection quality --------------------------------------------------------------------

  let qualityTimer: number | undefined;
  let totals: Totals | null = null;
  function startQuality(): void {
    if (qualityTimer !== undefined) return;
    const sample = async () => {
      if (session.status !== "joined") return;
      const stats = await session.connectionStats();
      const result = summarize(stats.sending, stats.receiving, totals);
      totals = result.totals;
      showQuality(classify(result.sample), result.sample.rttMs);
    };
    qualityTimer = window.setInterval(() => void sample(), QUALITY_EVERY_MS);
    void sample();
  }
  function stopQuality(): void {
    window.clearInterval(qualityTimer);
    qualityTimer = undefined;
  }
  function showQuality(level: Quality, rttMs: number | null): void {
    if (quality.dataset.level !== level || !quality.textContent) {
      quality.dataset.level = level; // a live region: only changes are worth saying
      quality.textContent = t(`room.quality.${level}`);
    }
    quality.title = rttMs === null ? "" : t("room.quality_rtt", { ms: Math.round(rttMs) });
  }
  showQuality("unknown", null);

  // --- wiring --------------------------------------------------------------------------------

  micButton.addEventListener("click", () => session.toggleMic());
  cameraButton.addEventListener("click", () => session.toggleCamera());
  screenButton.addEventListener("click", () => {
    void (session.sharing ? session.stopScreenShare() : session.startScreenShare());
  });
  handButton.addEventListener("click", () => session.raiseHand(!session.me?.hand_raised));
  for (const name of Object.keys(popoverButtons) as PopoverName[]) {
    popoverButtons[name].addEventListener("click", () => void showPopover(openPopover() === name ? null : name));
  }
  for (const popover of [devices.element, aiMenu.element, announceForm.element]) {
    popover.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closePopover();
    });
  }
  captionsButton.addEventListener("click", () => {
    captionsOn = !captionsOn;
    savePreference("captions", captionsOn);
    renderControls();
  });
  for (const panel of [chat.element, people.element, transcript.element]) {
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closePanel();
    });
  }
  chatButton.addEventListener("click", () => showPanel(openPanel === "chat" ? null : "chat", true));
  peopleButton.addEventListener("click", () => showPanel(openPanel === "people" ? null : "people", true));
  transcriptButton.addEventListener("click", () => showPanel(openPanel === "transcript" ? null : "transcript", true));
  leaveButton.addEventListener("click", () => session.leave());
  recordButton.addEventListener("click", () => session.setRecording(!session.recording.active));
  endButton.addEventListener("click", () => {
    void confirmAction(room, t("room.confirm_end"), t("room.end_for_all")).then((sure) => {
      if (sure) session.endMeeting();
    });
  });

  session.addEventListener("change", (event) => {
    const change = (event as CustomEvent<Change>).detail;
    switch (change) {
      case "status":
        renderStatus();
        break;
      case "chat":
        chat.onChat();
        break;
      case "notice":
        renderNotices();
        break;
      case "local":
        renderControls();
        stage.render();
        people.render();
        break;
      case "lobby":
        renderLobby();
        break;
      case "captions":
        renderCaptions();
        break;
      case "emotion":
        stage.renderEmotions();
        break;
      case "announcement":
        renderAnnouncements();
        break;
      case "recording":
        renderRecording();
        break;
      case "participants":
        renderPeopleChanges();
        renderControls(); // my own role or hand may have changed
        renderLobby();
        stage.render();
        break;
      default:
        stage.render();
    }
  });
  showPanel(openPanel);
  renderStatus();
}
