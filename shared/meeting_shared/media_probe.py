"""What an uploaded file really is, and a thumbnail of it, using Debian's ffprobe and ffmpeg.

Uploads are untrusted: the binaries run without a shell, with a timeout, reading only local files
(``-protocol_whitelist file``) through the few demuxers we accept (``-format_whitelist``), so a
playlist or concat file disguised as a video cannot make ffmpeg open other files or URLs. The
MIME type reported is derived from what ffprobe found, never from what the client claimed.

Pictures are refused above a pixel limit before anything decodes them: a small file can
describe an enormous picture (a 500 KB PNG of 13000 x 13000 decodes to 483 MiB), and ffprobe
itself decodes stills and first frames to describe them. So ``probe`` reads the size from the
headers first (Pillow for stills, ffprobe without decoding for videos), and every decoder that
runs afterwards (ffprobe, ffmpeg, Pillow) is held to the same limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import shutil
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Literal, TypeVar

from PIL import Image, ImageOps, UnidentifiedImageError

from meeting_shared.errors import InvalidInput, Unavailable, UnsupportedMediaType

logger = logging.getLogger(__name__)

MediaKind = Literal["image", "video", "audio"]
N = TypeVar("N", int, float)

PROBE_TIMEOUT_SECONDS = 30.0
THUMBNAIL_TIMEOUT_SECONDS = 60.0

ALLOWED_UPLOAD_TYPES: Mapping[str, MediaKind] = MappingProxyType(
    {
        "image/jpeg": "image",
        "image/png": "image",
        "image/webp": "image",
        "image/gif": "image",
        "video/mp4": "video",
        "video/webm": "video",
        "video/quicktime": "video",
        "audio/mpeg": "audio",
        "audio/ogg": "audio",
        "audio/wav": "audio",
        "audio/webm": "audio",
        "audio/mp4": "audio",
        "audio/aac": "audio",
        "audio/flac": "audio",
    }
)
"""Content types accepted for uploads, with the kind of media each must contain."""

# Names browsers and operating systems use for the same types.
_CONTENT_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-aac": "audio/aac",
    "audio/x-flac": "audio/flac",
}

# ffprobe demuxer names; ffmpeg matches "mov" and "matroska" against "mov,mp4,m4a,..." etc.
_IMAGE_DEMUXERS = {
    "png_pipe": "image/png",
    "jpeg_pipe": "image/jpeg",
    "webp_pipe": "image/webp",
    "gif": "image/gif",
    "gif_pipe": "image/gif",
}
_AV_DEMUXERS = ("mov", "matroska", "mp3", "ogg", "wav", "flac", "aac")
_DEMUXER_WHITELIST = ",".join((*_IMAGE_DEMUXERS, *_AV_DEMUXERS))
_WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})
_PIL_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What ffprobe found in a file. Width and height are as displayed (rotation applied)."""

    kind: MediaKind
    format_name: str
    mime_type: str
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    bit_rate: int | None = None


class PictureTooLarge(InvalidInput):
    """A picture (a still or a video's frames) with more pixels than the configured limit."""

    def __init__(self, width: int | None, height: int | None, max_pixels: int) -> None:
        size = f" ({width} x {height})" if width and height else ""
        super().__init__(
            f"The picture is too large{size}: at most {max_pixels} pixels are accepted",
            field="file",
            code="image_too_large",
        )


def check_picture_size(width: int | None, height: int | None, max_pixels: int) -> None:
    """Raise ``PictureTooLarge`` when ``width`` x ``height`` is over ``max_pixels``."""
    if width is not None and height is not None and width * height > max_pixels:
        raise PictureTooLarge(width, height, max_pixels)


@contextlib.contextmanager
def open_picture(
    source: Path | IO[bytes], max_pixels: int, formats: tuple[str, ...] | None = None
) -> Iterator[Image.Image]:
    """Open a still with Pillow, refusing it above ``max_pixels`` before any pixel is decoded.

    Pillow reads only the header here; decoding waits for the caller. Its own bomb check (twice
    ``Image.MAX_IMAGE_PIXELS``) would refuse giant headers at open, as ``PictureTooLarge`` too.
    """
    try:
        with warnings.catch_warnings():  # our own limit below refuses or allows, not the warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source, formats=formats)
    except Image.DecompressionBombError as exc:
        raise PictureTooLarge(None, None, max_pixels) from exc
    with image:
        check_picture_size(image.width, image.height, max_pixels)
        yield image


def tools_available() -> bool:
    """Whether both ffprobe and ffmpeg are on the PATH."""
    return shutil.which("ffprobe") is not None and shutil.which("ffmpeg") is not None


async def probe(path: Path, *, max_pixels: int) -> MediaInfo:
    """Identify an image, video or audio file; raise ``UnsupportedMediaType`` for anything else.

    A picture over ``max_pixels`` raises ``PictureTooLarge`` before anything decodes it. Each
    ffprobe run gets ``PROBE_TIMEOUT_SECONDS``; a caller's own ``asyncio.timeout`` also kills it.
    """
    await _check_header_size(path, max_pixels)
    info = _media_info(await _ffprobe(path, "-max_pixels", str(max_pixels)))
    check_picture_size(info.width, info.height, max_pixels)
    return info


async def make_thumbnail(
    path: Path, info: MediaInfo, *, max_pixels: int, max_side: int = 320
) -> bytes | None:
    """A JPEG no larger than ``max_side`` on either side; None for audio, which has no picture.

    Images go through Pillow, which honours EXIF orientation (ffmpeg ignores it for stills);
    videos through ffmpeg, which applies the display rotation itself. Neither decodes a picture
    over ``max_pixels``.
    """
    if max_side < 1:
        raise ValueError("max_side must be positive")
    if info.kind == "audio":
        return None
    if info.kind == "image":
        return await asyncio.to_thread(_image_thumbnail, path, max_side, max_pixels)
    # Early enough to exist in short clips, late enough to skip a black first frame.
    at = min((info.duration_seconds or 0.0) * 0.1, 1.0)
    thumbnail = await _video_frame(path, at, max_side, max_pixels)
    if not thumbnail and at > 0:  # some files cannot seek; their first frame will do
        thumbnail = await _video_frame(path, 0.0, max_side, max_pixels)
    if not thumbnail:
        raise UnsupportedMediaType("no picture could be decoded from the video", code="undecodable")
    return thumbnail


def normalize_content_type(content_type: str) -> str:
    """Lowercase, drop parameters (``;codecs=...``) and map common aliases to one name."""
    base = content_type.split(";", 1)[0].strip().lower()
    return _CONTENT_TYPE_ALIASES.get(base, base)


def check_declared_type(declared: str, info: MediaInfo) -> str:
    """Check a client's declared content type against what the file is; return the type to store.

    The declared type must be an allowed upload type of the same kind (image/video/audio) as the
    file, and the file's own format must be allowed too. The returned type is the probed one.
    """
    declared_kind = ALLOWED_UPLOAD_TYPES.get(normalize_content_type(declared))
    if declared_kind is None:
        raise UnsupportedMediaType(
            "this content type is not accepted for uploads", code="content_type_not_allowed"
        )
    if declared_kind != info.kind or info.mime_type not in ALLOWED_UPLOAD_TYPES:
        raise UnsupportedMediaType(
            f"the file is not the {declared_kind} its content type claims",
            code="content_type_mismatch",
        )
    return info.mime_type


# -- probing


async def _ffprobe(path: Path, *options: str) -> Mapping[str, Any]:
    """ffprobe's JSON report of ``path`` (format and streams), with extra input ``options``."""
    returncode, stdout, stderr = await _run(
        "ffprobe",
        [
            *("-v", "error", "-protocol_whitelist", "file"),
            *("-format_whitelist", _DEMUXER_WHITELIST),
            *options,
            *("-print_format", "json", "-show_format", "-show_streams"),
            f"file:{path}",
        ],
        PROBE_TIMEOUT_SECONDS,
    )
    if returncode != 0:
        logger.debug(
            "ffprobe rejected a file", extra={"stderr": stderr[-500:].decode(errors="replace")}
        )
        raise _unsupported()
    try:
        report = json.loads(stdout)
    except ValueError as exc:
        raise _unsupported() from exc
    if not isinstance(report, dict):
        raise _unsupported()
    return report


async def _check_header_size(path: Path, max_pixels: int) -> None:
    """Refuse a picture over ``max_pixels`` from what its headers say, decoding nothing.

    Stills carry their size in their own header, which Pillow reads without decoding; videos in
    their container, which ffprobe reads when told not to decode frames (``-nofind_stream_info``).
    """
    try:
        await asyncio.to_thread(_check_still_header, path, max_pixels)
        return
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        pass  # not a still Pillow knows: the container's header then
    try:
        report = await _ffprobe(path, "-nofind_stream_info")
    except UnsupportedMediaType:
        return  # the full probe says what is wrong with it
    for stream in report.get("streams") or []:
        if stream.get("codec_type") == "video":
            check_picture_size(
                _number(stream.get("width"), int), _number(stream.get("height"), int), max_pixels
            )


def _check_still_header(path: Path, max_pixels: int) -> None:
    with open_picture(path, max_pixels, _PIL_FORMATS):
        pass


def _media_info(report: Mapping[str, Any]) -> MediaInfo:
    fmt: Mapping[str, Any] = report.get("format") or {}
    format_name = str(fmt.get("format_name", ""))
    # Cover art in MP3/M4A arrives as a one-frame video stream marked attached_pic.
    streams = [
        stream
        for stream in report.get("streams") or []
        if not (stream.get("disposition") or {}).get("attached_pic")
    ]
    videos = [s for s in streams if s.get("codec_type") == "video" and _positive(s.get("width"))]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    video = videos[0] if videos else None
    audio = audios[0] if audios else None

    kind: MediaKind
    if format_name in _IMAGE_DEMUXERS and video is not None and audio is None:
        kind = "image"
    elif video is not None:
        kind = "video"
    elif audio is not None:
        kind = "audio"
    else:
        raise _unsupported()
    mime_type = _mime_type(format_name, kind, fmt, streams)
    if mime_type is None:
        raise _unsupported()

    width, height = _display_size(video) if video is not None else (None, None)
    return MediaInfo(
        kind=kind,
        format_name=format_name,
        mime_type=mime_type,
        width=width,
        height=height,
        duration_seconds=_number(fmt.get("duration"), float),
        video_codec=str(video["codec_name"]) if video and video.get("codec_name") else None,
        audio_codec=str(audio["codec_name"]) if audio and audio.get("codec_name") else None,
        bit_rate=_number(fmt.get("bit_rate"), int),
    )


def _mime_type(
    format_name: str, kind: MediaKind, fmt: Mapping[str, Any], streams: Sequence[Mapping[str, Any]]
) -> str | None:
    if kind == "image":
        return _IMAGE_DEMUXERS[format_name]
    demuxer = format_name.split(",", 1)[0]
    if demuxer == "mov":
        brand = str((fmt.get("tags") or {}).get("major_brand", "")).strip()
        if kind == "audio":
            return "audio/mp4"
        return "video/quicktime" if brand == "qt" else "video/mp4"
    if demuxer == "matroska":
        codecs = {str(stream.get("codec_name")) for stream in streams}
        subtype = "webm" if codecs <= _WEBM_CODECS else "x-matroska"
        return f"{kind}/{subtype}"
    by_demuxer = {
        "mp3": "audio/mpeg",
        "ogg": f"{kind}/ogg",
        "wav": "audio/wav",
        "flac": "audio/flac",
        "aac": "audio/aac",
    }
    return by_demuxer.get(demuxer) if kind == "audio" or demuxer == "ogg" else None


def _display_size(stream: Mapping[str, Any]) -> tuple[int | None, int | None]:
    width, height = _number(stream.get("width"), int), _number(stream.get("height"), int)
    rotation = _number((stream.get("tags") or {}).get("rotate"), int) or 0
    for side_data in stream.get("side_data_list") or []:
        rotation = _number(side_data.get("rotation"), int) or rotation
    if rotation % 180 == 90:  # phones record portrait video as rotated landscape
        return height, width
    return width, height


def _number(value: Any, kind: type[N]) -> N | None:
    try:
        return kind(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _positive(value: Any) -> bool:
    return isinstance(value, int) and value > 0


def _unsupported() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "the file is not a supported image, video or audio file", code="unsupported_media"
    )


# -- thumbnails


def _image_thumbnail(path: Path, max_side: int, max_pixels: int) -> bytes:
    try:
        with open_picture(path, max_pixels, _PIL_FORMATS) as opened:
            opened.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced size, far faster
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((max_side, max_side))
            if image.mode in ("RGBA", "LA", "P"):
                # JPEG has no alpha: put transparent pixels on white rather than black.
                rgba = image.convert("RGBA")
                image = Image.new("RGB", rgba.size, "white")
                image.paste(rgba, mask=rgba.getchannel("A"))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "JPEG", quality=80, optimize=True)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise _unsupported() from exc
    return buffer.getvalue()


async def _video_frame(path: Path, at: float, max_side: int, max_pixels: int) -> bytes:
    returncode, stdout, stderr = await _run(
        "ffmpeg",
        [
            *("-nostdin", "-v", "error", "-protocol_whitelist", "file"),
            *("-format_whitelist", _DEMUXER_WHITELIST),
            # The decoder refuses frames over the limit (a stream may change size mid-way).
            *("-max_pixels", str(max_pixels)),
            *("-ss", f"{at:.3f}", "-i", f"file:{path}"),
            *("-frames:v", "1", "-an", "-sn", "-dn"),
            "-vf",
            f"scale='min(iw,{max_side})':'min(ih,{max_side})':force_original_aspect_ratio=decrease",
            *("-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "4", "pipe:1"),
        ],
        THUMBNAIL_TIMEOUT_SECONDS,
    )
    if returncode != 0:
        logger.debug(
            "ffmpeg made no thumbnail", extra={"stderr": stderr[-500:].decode(errors="replace")}
        )
        return b""
    return stdout


# -- processes


async def _run(tool: str, args: Sequence[str], limit_seconds: float) -> tuple[int, bytes, bytes]:
    """Run ``tool`` (no shell) and collect its output; kill it after ``limit_seconds``."""
    executable = shutil.which(tool)
    if executable is None:
        raise Unavailable(f"{tool} is not installed; install Debian's ffmpeg package")
    try:
        process = await asyncio.create_subprocess_exec(
            executable,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise Unavailable(f"{tool} could not be started") from exc
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), limit_seconds)
    except BaseException as exc:
        # Timed out or cancelled: never leave the child running.
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        if isinstance(exc, TimeoutError):
            raise UnsupportedMediaType(
                f"{tool} took longer than {limit_seconds:g} s on this file", code="media_timeout"
            ) from exc
        raise
    assert process.returncode is not None
    return process.returncode, stdout, stderr
