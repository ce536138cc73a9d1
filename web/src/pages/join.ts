// `/join/:id` (optionally `?invite=TOKEN`): the way into a meeting.
//
// 1. Pre-join: camera preview, microphone level, device pickers and on/off toggles. Nothing is
//    sent to the meeting before "Join"; the preview's media is released then.
// 2. Join through the API: a password prompt when the meeting asks for one, the lobby while a
//    host decides (joining again every few seconds is how the API says "admitted").
// 3. The room. A lost connection is joined again by itself, with the same choices.

import { ApiError, Unreachable } from "../api/http";
import { getMeeting, joinMeeting, type JoinRequest, type JoinTicket, type Meeting, type Waiting } from "../api/meetings";
import { navigate, type Page, type PageContext } from "../app/router";
import { t } from "../i18n";
import { DEFAULT_CHOICE, deviceOptions, levelFromSamples, mediaConstraints, type MediaChoice } from "../meetings/devices";
import { RoomSession } from "../room/session";
import { renderRoom } from "../room/view";
import { h } from "../ui/dom";

declare global {
  interface Window {
    /** The room session of this page, for tests and debugging in the console. */
    meetingSession?: RoomSession;
  }
}

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000];
const LOBBY_POLL_MS = 3000;
const METER_INTERVAL_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The camera and microphone before joining: one stream, a level meter on its audio. */
class Preview {
  stream: MediaStream | null = null;
  private audio: AudioContext | null = null;
  private analyser: AnalyserNode | null = null;
  private timer: number | undefined;
  /** Bumped by every open and stop: an open that finishes after a newer one (or after
   * "Join") releases what it got instead of keeping the camera on. */
  private generation = 0;

  /** Open the chosen devices (falling back to fewer): what could be opened, or null when
   * this open was overtaken. */
  async open(choice: MediaChoice): Promise<{ audio: boolean; video: boolean } | null> {
    this.stop();
    const generation = this.generation;
    const wanted = mediaConstraints(choice);
    const attempts = [wanted, { audio: wanted.audio }, { video: wanted.video }].filter(
      (constraints) => constraints.audio || constraints.video,
    );
    for (const constraints of attempts) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia(constraints);
        if (generation !== this.generation) {
          for (const track of stream.getTracks()) track.stop();
          return null;
        }
        this.stream = stream;
        break;
      } catch {
        // try with less
      }
    }
    if (generation !== this.generation) return null;
    this.apply(choice);
    return {
      audio: (this.stream?.getAudioTracks().length ?? 0) > 0,
      video: (this.stream?.getVideoTracks().length ?? 0) > 0,
    };
  }

  /** The toggles: a track that is off sends silence or black (and the meter reads zero). */
  apply(choice: MediaChoice): void {
    for (const track of this.stream?.getAudioTracks() ?? []) track.enabled = choice.micOn;
    for (const track of this.stream?.getVideoTracks() ?? []) track.enabled = choice.cameraOn;
  }

  deviceId(kind: "audio" | "video"): string | null {
    const track = kind === "audio" ? this.stream?.getAudioTracks()[0] : this.stream?.getVideoTracks()[0];
    return track?.getSettings().deviceId ?? null;
  }

  /** Feed `onLevel` with the microphone level (0..1) until stopped. */
  meter(onLevel: (level: number) => void): void {
    const track = this.stream?.getAudioTracks()[0];
    if (!track) return;
    this.audio = new AudioContext();
    this.analyser = this.audio.createAnalyser();
    this.analyser.fftSize = 1024;
    this.audio.createMediaStreamSource(new MediaStream([track])).connect(this.analyser);
    const samples = new Uint8Array(this.analyser.fftSize);
    this.timer = window.setInterval(() => {
      if (!this.analyser) return;
      this.analyser.getByteTimeDomainData(samples);
      onLevel(levelFromSamples(samples));
    }, METER_INTERVAL_MS);
  }

  /** Browsers start an AudioContext suspended until the page is used: any click resumes it. */
  resume(): void {
    if (this.audio?.state === "suspended") void this.audio.resume();
  }

  stop(): void {
    this.generation++;
    window.clearInterval(this.timer);
    this.timer = undefined;
    void this.audio?.close().catch(() => undefined);
    this.audio = this.analyser = null;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
  }
}

class JoinFlow {
  private alive = true;
  private choice: MediaChoice = { ...DEFAULT_CHOICE };
  private password: string | undefined;
  private preview = new Preview();
  private meeting: Meeting | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly meetingId: string,
    private readonly invite: string | null,
    private readonly ctx: PageContext,
  ) {}

  close(): void {
    this.alive = false;
    this.preview.stop();
    window.meetingSession?.leave();
  }

  private get body(): JoinRequest {
    const body: JoinRequest = {};
    if (this.invite) body.invite_token = this.invite;
    if (this.password) body.password = this.password;
    return body;
  }

  private card(...children: (Node | null)[]): HTMLElement {
    const card = h("section", { class: "card join-card" }, ...children);
    this.root.replaceChildren(card);
    return card;
  }

  private backLink(): HTMLAnchorElement {
    return h("a", { href: "/", class: "button secondary", "data-testid": "join-back" }, t("join.back"));
  }

  private showError(text: string): void {
    this.card(h("p", { class: "alert", role: "alert", "data-testid": "join-error" }, text), this.backLink());
  }

  // --- 1. pre-join ---------------------------------------------------------------------------

  async start(): Promise<void> {
    this.card(h("p", { role: "status" }, t("common.loading")));
    // Members (hosts, invited people) can read the meeting first; newcomers with a link or a
    // password cannot until they are in, so they see a plain title.
    this.meeting = await getMeeting(this.meetingId).catch(() => null);
    if (!this.alive) return;
    if (this.meeting?.status === "ended" || this.meeting?.status === "cancelled") {
      this.showError(t(`error.meeting_${this.meeting.status}`));
      return;
    }
    if (this.meeting) {
      this.choice.video = this.meeting.meeting_type !== "audio" && this.meeting.settings.video !== false;
      this.choice.micOn = !(this.meeting.settings.mute_on_join && this.meeting.my_role !== "host");
    }
    await this.preJoin();
  }

  private async preJoin(): Promise<void> {
    const title = this.meeting?.title ?? t("prejoin.untitled");
    const video = h("video", { autoplay: true, playsinline: true, "data-testid": "prejoin-video", "aria-hidden": "true" });
    video.muted = true;
    const cameraOff = h("p", { class: "camera-off", "data-testid": "prejoin-camera-off", hidden: true });
    const meter = h("meter", { id: "mic-level", min: 0, max: 1, value: 0, "data-testid": "mic-level" });
    const problem = h("p", { class: "alert", role: "alert", "data-testid": "prejoin-problem", hidden: true });
    const micSelect = h("select", { id: "prejoin-mic", "data-testid": "mic-select" });
    const cameraSelect = h("select", { id: "prejoin-camera", "data-testid": "camera-select" });
    const micToggle = h("button", { type: "button", "data-testid": "prejoin-mic-toggle" });
    const cameraToggle = h("button", { type: "button", "data-testid": "prejoin-camera-toggle" });
    const join = h("button", { type: "submit", class: "primary", "data-testid": "prejoin-join" }, t("prejoin.join"));
    const cameraField = h(
      "div",
      { class: "field" },
      h("label", { for: "prejoin-camera" }, t("prejoin.camera")),
      cameraSelect,
    );
    const form = h(
      "form",
      { class: "prejoin-controls", "aria-label": t("prejoin.settings") },
      h("div", { class: "field" }, h("label", { for: "prejoin-mic" }, t("prejoin.microphone")), micSelect),
      h("div", { class: "field" }, h("label", { for: "mic-level" }, t("prejoin.level")), meter),
      this.choice.video ? cameraField : null,
      h("div", { class: "toggles" }, micToggle, this.choice.video ? cameraToggle : null),
      join,
      this.backLink(),
    );
    const card = this.card(
      h("h1", { "data-testid": "prejoin-title" }, title),
      h("p", { class: "muted-text" }, t("prejoin.joining_as", { name: this.ctx.user.display_name })),
      h(
        "div",
        { class: "prejoin", "data-testid": "prejoin" },
        this.choice.video ? h("div", { class: "preview" }, video, cameraOff) : null,
        form,
      ),
      problem,
    );
    card.classList.add("wide");
    card.addEventListener("click", () => this.preview.resume());
    card.addEventListener("keydown", () => this.preview.resume());

    const renderToggles = () => {
      // The label says what a click does; the colour shows what is off.
      micToggle.textContent = this.choice.micOn ? t("prejoin.mute") : t("prejoin.unmute");
      micToggle.classList.toggle("off", !this.choice.micOn);
      cameraToggle.textContent = this.choice.cameraOn ? t("prejoin.stop_camera") : t("prejoin.start_camera");
      cameraToggle.classList.toggle("off", !this.choice.cameraOn);
      const hasVideo = (this.preview.stream?.getVideoTracks().length ?? 0) > 0;
      cameraOff.hidden = hasVideo && this.choice.cameraOn;
      cameraOff.textContent = hasVideo ? t("prejoin.camera_is_off") : t("prejoin.no_camera");
      video.classList.toggle("off", !this.choice.cameraOn);
      this.preview.apply(this.choice);
      if (!this.choice.micOn) meter.value = 0;
    };

    const fillDevices = async () => {
      const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
      const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, current: string | null, label: string) => {
        const options = deviceOptions(devices, kind, (n) => t(label, { n }));
        select.replaceChildren(
          ...options.map((option) => h("option", { value: option.id, selected: option.id === current }, option.label)),
        );
        select.disabled = options.length === 0;
        if (options.length === 0) select.append(h("option", {}, t("prejoin.none_found")));
      };
      fill(micSelect, "audioinput", this.preview.deviceId("audio"), "prejoin.microphone_n");
      fill(cameraSelect, "videoinput", this.preview.deviceId("video"), "prejoin.camera_n");
    };

    const open = async () => {
      const opened = await this.preview.open(this.choice);
      if (!opened || !this.alive) return; // overtaken by another choice, "Join" or leaving
      video.srcObject = this.preview.stream;
      video.play().catch(() => undefined);
      const missing = !opened.audio && (!opened.video && this.choice.video)
        ? t("prejoin.no_media")
        : !opened.audio
          ? t("prejoin.no_microphone")
          : !opened.video && this.choice.video
            ? t("prejoin.no_camera")
            : "";
      problem.textContent = missing;
      problem.hidden = missing === "";
      micToggle.disabled = !opened.audio;
      cameraToggle.disabled = !opened.video;
      meter.value = 0;
      this.preview.meter((level) => {
        meter.value = this.choice.micOn ? level : 0;
      });
      renderToggles();
      await fillDevices();
    };

    micToggle.addEventListener("click", () => {
      this.choice.micOn = !this.choice.micOn;
      renderToggles();
    });
    cameraToggle.addEventListener("click", () => {
      this.choice.cameraOn = !this.choice.cameraOn;
      renderToggles();
    });
    micSelect.addEventListener("change", () => {
      this.choice.microphone = micSelect.value;
      void open();
    });
    cameraSelect.addEventListener("change", () => {
      this.choice.camera = cameraSelect.value;
      void open();
    });
    const onDeviceChange = () => void fillDevices();
    navigator.mediaDevices?.addEventListener("devicechange", onDeviceChange);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      navigator.mediaDevices?.removeEventListener("devicechange", onDeviceChange);
      // The room opens the same devices itself: keep what the preview actually used.
      this.choice.microphone = this.preview.deviceId("audio") ?? this.choice.microphone;
      this.choice.camera = this.preview.deviceId("video") ?? this.choice.camera;
      this.preview.stop();
      video.srcObject = null;
      void this.join();
    });
    renderToggles();
    // Browsers offer no media devices to pages that are not served securely (https, localhost).
    if ((navigator.mediaDevices as MediaDevices | undefined) !== undefined) await open();
    else {
      problem.textContent = t("prejoin.no_media");
      problem.hidden = false;
    }
    join.focus();
  }

  // --- 2. join, password, lobby --------------------------------------------------------------

  private async join(reconnecting = false): Promise<void> {
    const status = h(
      "p",
      { role: "status", "data-testid": reconnecting ? "reconnecting" : "join-status" },
      reconnecting ? t("join.reconnecting") : t("join.joining"),
    );
    this.card(status);
    let attempt = 0;
    for (;;) {
      if (!this.alive) return;
      try {
        const outcome = await joinMeeting(this.meetingId, this.body);
        if (!this.alive) return;
        if ("join_token" in outcome) {
          await this.enterRoom(outcome, reconnecting);
          return;
        }
        this.showLobby(outcome);
        attempt = 0;
        await sleep(LOBBY_POLL_MS);
      } catch (error) {
        if (!this.alive) return;
        // A network that is down (reconnecting, or while waiting in the lobby): keep trying.
        if (error instanceof Unreachable && attempt < RECONNECT_DELAYS_MS.length) {
          await sleep(RECONNECT_DELAYS_MS[attempt++]!);
          continue;
        }
        this.onJoinError(error);
        return;
      }
    }
  }

  private onJoinError(error: unknown): void {
    if (error instanceof ApiError) {
      if (error.code === "password_required") return this.showPassword(null);
      if (error.code === "wrong_password" || (error.code === "rate_limited" && this.password)) {
        return this.showPassword(error.message);
      }
      if (error.code === "lobby_denied") return this.showDenied();
    }
    this.showError(messageOf(error));
  }

  private showPassword(problem: string | null): void {
    const input = h("input", {
      id: "meeting-password",
      type: "password",
      name: "meeting-password",
      autocomplete: "off",
      required: true,
      maxlength: 64,
      "aria-invalid": problem ? "true" : null,
      "aria-describedby": problem ? "password-error" : null,
      "data-testid": "meeting-password",
    });
    const form = h(
      "form",
      { class: "stack", "data-testid": "password-form", "aria-labelledby": "password-title" },
      h("label", { for: "meeting-password" }, t("password.label")),
      input,
      problem ? h("p", { id: "password-error", class: "alert", role: "alert", "data-testid": "password-error" }, problem) : null,
      h("button", { type: "submit", class: "primary", "data-testid": "password-submit" }, t("password.submit")),
    );
    this.card(
      h("h1", { id: "password-title" }, this.meeting?.title ?? t("password.title")),
      h("p", {}, t("password.explain")),
      form,
      this.backLink(),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.password = input.value;
      void this.join();
    });
    input.focus();
  }

  private showLobby(waiting: Waiting): void {
    const existing = this.root.querySelector<HTMLElement>('[data-testid="lobby"]');
    if (existing) return; // already shown: keep focus and what the reader is looking at
    const whom = waiting.host_display_name
      ? t("lobby.waiting_for", { name: waiting.host_display_name })
      : t("lobby.waiting");
    this.card(
      h(
        "div",
        { class: "lobby", "data-testid": "lobby" },
        h("h1", {}, waiting.meeting_title),
        h("div", { class: "spinner", "aria-hidden": "true" }),
        h("p", { role: "status", "data-testid": "lobby-status" }, whom),
        h("p", { class: "muted-text" }, t("lobby.explain")),
        this.backLink(),
      ),
    );
  }

  private showDenied(): void {
    this.card(
      h("h1", {}, t("lobby.denied_title")),
      h("p", { class: "alert", role: "alert", "data-testid": "lobby-denied" }, t("error.lobby_denied")),
      this.backLink(),
    );
  }

  // --- 3. the room ---------------------------------------------------------------------------

  private async enterRoom(ticket: JoinTicket, rejoin: boolean): Promise<void> {
    const session = new RoomSession(ticket, mediaConstraints(this.choice), {
      mic: this.choice.micOn,
      camera: this.choice.cameraOn,
      rejoin,
    });
    window.meetingSession = session;
    renderRoom(this.root, session, () => navigate("/"));
    let rejoining = false;
    session.addEventListener("change", (event) => {
      const change = (event as CustomEvent<string>).detail;
      if (change === "local" && (session.status === "joined" || session.status === "connecting")) {
        // Remembered for joining again after a lost connection (the session forgets on failure).
        this.choice.micOn = session.micOn;
        this.choice.cameraOn = session.cameraOn;
      }
      if (change !== "status" || !session.reconnectable) return;
      if (rejoining || !this.alive) return;
      rejoining = true; // a lost connection: join again with a fresh ticket
      void this.join(true);
    });
    try {
      await session.start();
    } catch {
      // the view shows why (session.endReason)
    }
  }
}

const page: Page = (root, ctx) => {
  const flow = new JoinFlow(root, ctx.params.id!, ctx.query.get("invite"), ctx);
  void flow.start(); // not awaited: leaving the page while it loads must still stop the camera
  return () => flow.close();
};
export default page;
