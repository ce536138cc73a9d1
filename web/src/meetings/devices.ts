// The pre-join screen's media choices: which microphone and camera, on or off, as the
// constraints `getUserMedia` (and so `RoomSession`) takes; and the microphone level from an
// AnalyserNode's samples. Pure functions only.

export interface MediaChoice {
  /** A `deviceId`, or null for the browser's default. */
  microphone: string | null;
  camera: string | null;
  micOn: boolean;
  cameraOn: boolean;
  /** False for audio-only meetings: no camera is opened at all. */
  video: boolean;
}

export const DEFAULT_CHOICE: MediaChoice = { microphone: null, camera: null, micOn: true, cameraOn: true, video: true };

const VIDEO_SIZE = { width: { ideal: 640 }, height: { ideal: 480 } };

/** Constraints for the chosen devices. `ideal` rather than `exact`: a device unplugged since
 * it was picked falls back to another one instead of leaving the person without media. */
export function mediaConstraints(choice: MediaChoice): MediaStreamConstraints {
  return {
    audio: choice.microphone ? { deviceId: { ideal: choice.microphone } } : true,
    video: choice.video ? { ...VIDEO_SIZE, ...(choice.camera ? { deviceId: { ideal: choice.camera } } : {}) } : false,
  };
}

const FLOOR_DB = -60;

/** 0..1 from an AnalyserNode's time-domain bytes (128 = silence): the loudness in decibels
 * from -60 dBFS (empty) to 0 dBFS (full), which is how ears (and other apps' meters) scale it:
 * on a linear scale ordinary speech would barely move the bar. */
export function levelFromSamples(samples: Uint8Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const sample of samples) {
    const value = (sample - 128) / 128;
    sum += value * value;
  }
  const rms = Math.sqrt(sum / samples.length);
  if (rms === 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db - FLOOR_DB) / -FLOOR_DB));
}

export interface DeviceOption {
  id: string;
  label: string;
}

/** The devices of one kind, each with a label (browsers hide labels until media is allowed). */
export function deviceOptions(
  devices: readonly Pick<MediaDeviceInfo, "deviceId" | "kind" | "label">[],
  kind: MediaDeviceKind,
  fallback: (index: number) => string,
): DeviceOption[] {
  return devices
    .filter((device) => device.kind === kind && device.deviceId !== "")
    .map((device, index) => ({ id: device.deviceId, label: device.label || fallback(index + 1) }));
}
