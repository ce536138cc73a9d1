"""ffprobe and ffmpeg as the mixer runs them: a file's streams (``probe``), and one run of a
tool with a timeout whose failure is a ``MixError`` carrying the tool's own last words."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meeting_shared.errors import MeetingError

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
PROBE_TIMEOUT_SECONDS = 30.0
_ERROR_TAIL_CHARS = 2000


class MixError(MeetingError):
    """The recording could not be mixed; the message carries ffmpeg's or ffprobe's own words."""

    status = 500
    code = "recording_mix_failed"
    title = "The recording could not be mixed"


@dataclass(frozen=True)
class ProbeStream:
    index: int
    codec_type: str
    codec_name: str
    width: int | None
    height: int | None
    pix_fmt: str | None
    sample_rate: int | None
    channels: int | None
    duration: float | None


@dataclass(frozen=True)
class ProbeResult:
    path: Path
    format_name: str
    duration: float | None
    size_bytes: int
    streams: tuple[ProbeStream, ...]

    def of_type(self, codec_type: str) -> list[ProbeStream]:
        return [stream for stream in self.streams if stream.codec_type == codec_type]

    @property
    def video(self) -> list[ProbeStream]:
        return self.of_type("video")

    @property
    def audio(self) -> list[ProbeStream]:
        return self.of_type("audio")

    @property
    def subtitles(self) -> list[ProbeStream]:
        return self.of_type("subtitle")


def probe(path: Path, *, timeout: float = PROBE_TIMEOUT_SECONDS) -> ProbeResult:
    """Streams and format of a local media file, from ``ffprobe`` JSON; `MixError` if unreadable."""
    stdout = run(
        [
            FFPROBE,
            *("-v", "error", "-protocol_whitelist", "file"),
            *("-show_format", "-show_streams", "-of", "json"),
            file_url(path),
        ],
        timeout=timeout,
        what=f"ffprobe {path.name}",
    )
    try:
        report: dict[str, Any] = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise MixError(f"ffprobe {path.name}: unreadable report ({exc})") from exc
    fmt: dict[str, Any] = report.get("format") or {}
    streams = tuple(
        ProbeStream(
            index=int(raw.get("index", i)),
            codec_type=str(raw.get("codec_type", "")),
            codec_name=str(raw.get("codec_name", "")),
            width=_int_or_none(raw.get("width")),
            height=_int_or_none(raw.get("height")),
            pix_fmt=raw.get("pix_fmt"),
            sample_rate=_int_or_none(raw.get("sample_rate")),
            channels=_int_or_none(raw.get("channels")),
            duration=_float_or_none(raw.get("duration")),
        )
        for i, raw in enumerate(report.get("streams") or [])
    )
    return ProbeResult(
        path=path,
        format_name=str(fmt.get("format_name", "")),
        duration=_float_or_none(fmt.get("duration")),
        size_bytes=_int_or_none(fmt.get("size")) or path.stat().st_size,
        streams=streams,
    )


def file_url(path: Path) -> str:
    # "file:" + absolute path: a name starting with "-" or containing ":" is still just a file.
    return "file:" + str(path.resolve())


def run(command: list[str], *, timeout: float, what: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed binary, argument list, no shell
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise MixError(f"{what}: {command[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        # subprocess.run has already killed and reaped the child.
        stderr = _decode(exc.stderr)
        detail = f": {stderr}" if stderr else ""
        raise MixError(f"{what}: timed out after {timeout:.0f} s{detail}") from exc
    if done.returncode != 0:
        stderr = _decode(done.stderr) or f"exit status {done.returncode}"
        raise MixError(f"{what} failed: {stderr}")
    return done.stdout.decode("utf-8", errors="replace")


def _decode(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text.strip()[-_ERROR_TAIL_CHARS:]


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _float_or_none(value: object) -> float | None:
    try:
        number = float(str(value)) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
