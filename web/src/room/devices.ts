// The device picker: which camera and microphone to send from, switchable without leaving.

import { t } from "../i18n";
import { h } from "../ui/dom";
import type { RoomSession } from "./session";

export class DevicePicker {
  readonly element: HTMLElement;
  private readonly camera: HTMLSelectElement;
  private readonly microphone: HTMLSelectElement;
  private readonly message: HTMLElement;

  constructor(private readonly session: RoomSession) {
    this.camera = h("select", { id: "room-camera", "data-testid": "camera-select" });
    this.microphone = h("select", { id: "room-microphone", "data-testid": "mic-select" });
    this.message = h("p", { class: "status", role: "status" });
    this.element = h(
      "div",
      { class: "devices", id: "room-devices", role: "group", "aria-label": t("room.devices"), "data-testid": "devices", hidden: true },
      h("label", { for: "room-camera" }, t("room.camera")),
      this.camera,
      h("label", { for: "room-microphone" }, t("room.microphone")),
      this.microphone,
      this.message,
    );
    this.camera.addEventListener("change", () => void this.pick("video", this.camera));
    this.microphone.addEventListener("change", () => void this.pick("audio", this.microphone));
    navigator.mediaDevices?.addEventListener?.("devicechange", () => {
      if (this.element.isConnected && !this.element.hidden) void this.refresh();
    });
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  async setOpen(open: boolean): Promise<void> {
    this.element.hidden = !open;
    if (open) await this.refresh();
  }

  focus(): void {
    [this.camera, this.microphone].find((select) => !select.disabled)?.focus();
  }

  async refresh(): Promise<void> {
    let devices: MediaDeviceInfo[] = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      // no list: the selects say so
    }
    this.fill(this.camera, devices.filter((d) => d.kind === "videoinput"), "video");
    this.fill(this.microphone, devices.filter((d) => d.kind === "audioinput"), "audio");
  }

  private fill(select: HTMLSelectElement, devices: MediaDeviceInfo[], kind: "audio" | "video"): void {
    const current = this.session.deviceId(kind);
    select.replaceChildren(
      ...devices.map((device, index) =>
        h(
          "option",
          { value: device.deviceId, selected: device.deviceId === current },
          device.label || t(kind === "video" ? "room.camera_n" : "room.microphone_n", { n: index + 1 }),
        ),
      ),
    );
    if (devices.length === 0) select.append(h("option", { value: "" }, t("room.no_device")));
    if (current) select.value = current;
    select.disabled = devices.length < 2 || this.session.status !== "joined";
  }

  private async pick(kind: "audio" | "video", select: HTMLSelectElement): Promise<void> {
    if (!select.value) return;
    select.disabled = true;
    this.message.textContent = t("room.switching");
    await this.session.switchDevice(kind, select.value);
    this.message.textContent = "";
    await this.refresh(); // shows what is really in use (the old device if switching failed)
  }
}
