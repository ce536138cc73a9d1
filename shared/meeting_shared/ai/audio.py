"""Audio as callers send it (WAV, or raw PCM16 at some rate) turned into what ASR takes: mono
float samples at 16 kHz. Anything else is refused with a reason, never a stack trace."""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np
import numpy.typing as npt

from meeting_shared.errors import InvalidInput
from meeting_shared.settings import ASR_MAX_AUDIO_SECONDS

Samples = npt.NDArray[np.float32]
ASR_RATE = 16_000
MIN_RATE, MAX_RATE = 8_000, 192_000
MAX_SECONDS = ASR_MAX_AUDIO_SECONDS
SAMPLE_TYPES: dict[int, Any] = {1: np.uint8, 2: "<i2", 4: "<i4"}


def _bad(detail: str) -> InvalidInput:
    return InvalidInput(detail, field="audio", code="bad_audio")


def from_pcm16(data: bytes, sample_rate: int, channels: int = 1) -> tuple[Samples, int]:
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise _bad(f"sample_rate must be between {MIN_RATE} and {MAX_RATE}")
    if channels not in (1, 2):
        raise _bad("channels must be 1 or 2")
    if not data or len(data) % (2 * channels):
        raise _bad("raw PCM16 must be a whole number of little-endian 16-bit samples per channel")
    pcm = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    return pcm.reshape(-1, channels).mean(axis=1).astype(np.float32), sample_rate


def from_wav(data: bytes) -> tuple[Samples, int]:
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width, rate = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise _bad(f"not a PCM WAV file: {exc}") from exc
    if width not in SAMPLE_TYPES:
        raise _bad("WAV samples must be 8, 16 or 32-bit integers")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise _bad(f"WAV sample rate must be between {MIN_RATE} and {MAX_RATE}")
    if not frames or len(frames) % (width * channels):
        raise _bad("the WAV file holds no complete samples")
    raw = np.frombuffer(frames, dtype=SAMPLE_TYPES[width]).astype(np.float32)
    scaled = (raw - 128.0) / 128.0 if width == 1 else raw / float(2 ** (8 * width - 1))
    return scaled.reshape(-1, channels).mean(axis=1).astype(np.float32), rate


def resample(samples: Samples, rate: int, to: int) -> Samples:
    """Mono float samples at ``rate`` → at ``to`` (FFmpeg's resampler, through PyAV)."""
    import av  # aiortc's dependency

    resampler = av.AudioResampler(format="flt", layout="mono", rate=to)
    frame = av.AudioFrame.from_ndarray(
        samples.astype(np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = rate
    frames = resampler.resample(frame) + resampler.resample(None)
    joined: Samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    return joined.astype(np.float32)


def to_asr_input(samples: Samples, rate: int) -> Samples:
    """Mono 16 kHz, at most ``MAX_SECONDS`` long."""
    if samples.size / rate > MAX_SECONDS:
        raise _bad(f"audio is longer than {MAX_SECONDS:.0f} s; send it in parts")
    return samples if rate == ASR_RATE else resample(samples, rate, ASR_RATE)


def to_wav(samples: Samples, rate: int) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm.tobytes())
    return out.getvalue()
