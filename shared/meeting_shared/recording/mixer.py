"""Mix a meeting recorded per track into ONE browser-playable MP4 (H.264 yuv420p + AAC, faststart).

Approach: the meeting is cut into intervals in which the set of visible video tracks is constant.
Each interval gets its own layout (a grid of cameras; a screen share on the left 75 % with the
cameras in a strip beside it; or a title card) drawn over a black canvas of exactly that many
frames, and the intervals are joined with the ``concat`` filter, all in one ffmpeg filter graph.
So each input is decoded once (``split`` to the intervals that show it), the output is encoded
once (no joins of separately encoded pieces, no keyframe or timestamp seams) and a single process
runs under a single timeout. Boundaries are counted in output frames, so the video has exactly
``round(duration * fps)`` frames. Audio tracks are placed by their timestamps (``aresample``
pads the start and any gaps with silence), summed with ``amix normalize=0`` and limited.

Speed, measured on the 2-core build machine (60 s meeting: 3 cameras 640x480/640x360 VP8 and
H.264, a 1280x720 screen share for 30 s, 3 Opus tracks; 1280x720 at 25 fps, x264 veryfast CRF
26): 3.6-4.2 s of output per second of work (14-17 s wall, ~22 s CPU; ffmpeg peaks at ~235 MiB),
6.4 MB per minute of these test patterns. superfast was 4.8x but twice the size; ultrafast 6x.

Limits: a camera turned off without ending its track shows its last frame (the timeline has no
mute periods); if a sender changes aspect ratio mid-track the picture is stretched to the size of
its first frames (resolution changes of the same shape are fine); every video track file keeps a
decoder open for the whole run (~15-20 MiB each), so meetings with hundreds of track files need
more memory. The call blocks for the whole run: use a worker thread or process.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from meeting_shared.enums import TrackKind, TrackSource
from meeting_shared.errors import MeetingError

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
PROBE_TIMEOUT_SECONDS = 30.0
THUMBNAIL_SIZE = (640, 360)
AUDIO_RATE = 48_000
AUDIO_BITRATE = "128k"
X264_PRESET = "veryfast"
X264_CRF = 26
SCREEN_SHARE_FRACTION = 0.75
MAX_GRID_TILES = 9
MAX_STRIP_TILES = 6
CAPTION_MARGIN = 30
_ERROR_TAIL_CHARS = 2000
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


class MixError(MeetingError):
    """The recording could not be mixed; the message carries ffmpeg's or ffprobe's own words."""

    status = 500
    code = "recording_mix_failed"
    title = "The recording could not be mixed"


class TimelineTrack(BaseModel):
    track_id: str
    user_id: uuid.UUID
    display_name: str
    kind: TrackKind
    source: TrackSource
    file: str
    """Name of the track's Matroska file, relative to the recording's folder."""
    started_at: datetime
    """Wall clock (UTC) of the track's first media."""
    ended_at: datetime
    """Wall clock (UTC) of the track's last media."""


class Timeline(BaseModel):
    recording_id: uuid.UUID
    meeting_id: uuid.UUID
    title: str
    started_at: datetime
    stopped_at: datetime
    tracks: list[TimelineTrack]


@dataclass(frozen=True)
class MixResult:
    path: Path
    duration_seconds: float
    size_bytes: int
    thumbnail: Path
    captions: Path | None = None
    """The WebVTT kept beside the MP4 (browsers show captions only from a <track> element)."""


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
    stdout = _run(
        [
            FFPROBE,
            *("-v", "error", "-protocol_whitelist", "file"),
            *("-show_format", "-show_streams", "-of", "json"),
            _file_url(path),
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


def mix(
    timeline: Timeline,
    folder: Path,
    output: Path,
    *,
    captions: Path | None = None,
    burn_captions: bool = False,
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
    timeout: float | None = None,
) -> MixResult:
    """Render ``timeline`` (files under ``folder``) into ``output`` (MP4) plus a JPEG thumbnail.

    ``captions`` (WebVTT, times relative to ``timeline.started_at``) becomes a ``mov_text``
    stream and is copied beside the MP4 as ``<output>.vtt``; ``burn_captions`` also draws it into
    the picture. ``timeout`` defaults to 60 s plus 5 s per second of meeting. Files appear only
    once complete (written under temporary names, then renamed).
    """
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise MixError(f"output size must be even and at least 64x64, not {width}x{height}")
    if not 1 <= fps <= 60:
        raise MixError(f"fps must be within 1..60, not {fps}")
    duration = (timeline.stopped_at - timeline.started_at).total_seconds()
    total_frames = round(duration * fps)
    if total_frames < 1:
        raise MixError("the recording stopped before it started: nothing to mix")
    if captions is not None and not captions.is_file():
        raise MixError(f"captions file {captions} does not exist")
    limit = timeout if timeout is not None else 60.0 + 5.0 * duration

    sources = _sources(timeline, folder, fps, total_frames)
    intervals = _intervals(sources, total_frames)
    output.parent.mkdir(parents=True, exist_ok=True)
    part = output.with_name(f".{output.name}.part")
    thumbnail = output.with_suffix(".jpg")
    thumb_part = output.with_name(f".{thumbnail.name}.part")
    try:
        with tempfile.TemporaryDirectory(prefix="mix-") as scratch:
            graph = _GraphBuilder(
                Path(scratch), timeline.title, width, height, fps, total_frames
            ).build(sources, intervals, captions if burn_captions else None)
            script = Path(scratch) / "graph.txt"
            script.write_text(graph, encoding="utf-8")
            _run(
                _mix_command(sources, script, captions, part, timeline.title, total_frames / fps),
                timeout=limit,
                what="ffmpeg mix",
            )
        at = _thumbnail_time(intervals, total_frames) / fps
        _run(
            _thumbnail_command(part, at, thumb_part),
            timeout=PROBE_TIMEOUT_SECONDS,
            what="ffmpeg thumbnail",
        )
        result = probe(part)
        os.replace(thumb_part, thumbnail)
        os.replace(part, output)
    finally:
        part.unlink(missing_ok=True)
        thumb_part.unlink(missing_ok=True)
    kept_captions: Path | None = None
    if captions is not None:
        kept_captions = output.with_suffix(".vtt")
        if captions.resolve() != kept_captions.resolve():
            shutil.copyfile(captions, kept_captions)
    return MixResult(
        path=output,
        duration_seconds=result.duration or total_frames / fps,
        size_bytes=output.stat().st_size,
        thumbnail=thumbnail,
        captions=kept_captions,
    )


# --- which tracks are seen when --------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One track file that appears in the output, as ffmpeg input number ``index``."""

    track: TimelineTrack
    path: Path
    index: int
    offset: float
    """Seconds from the recording start to the track's first media (negative: began earlier)."""
    start_frame: int
    end_frame: int
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class _Interval:
    start: int
    end: int
    visible: tuple[_Source, ...]


@dataclass(frozen=True)
class Tile:
    """Where one video track is drawn: its box, and the letterboxed picture inside it."""

    track_id: str
    box_x: int
    box_y: int
    box_w: int
    box_h: int
    x: int
    y: int
    w: int
    h: int


def _sources(timeline: Timeline, folder: Path, fps: int, total_frames: int) -> list[_Source]:
    base = folder.resolve()
    sources: list[_Source] = []
    for track in timeline.tracks:
        offset = (track.started_at - timeline.started_at).total_seconds()
        end = (track.ended_at - timeline.started_at).total_seconds()
        start_frame = min(max(round(offset * fps), 0), total_frames)
        end_frame = min(max(round(end * fps), 0), total_frames)
        if end_frame <= start_frame:
            continue  # entirely outside the recording (or empty): nothing to show or hear
        path = (base / track.file).resolve()
        if Path(track.file).is_absolute() or not path.is_relative_to(base):
            raise MixError(f"track {track.track_id}: file {track.file!r} is outside the folder")
        if not path.is_file():
            raise MixError(f"track {track.track_id}: file {track.file} does not exist")
        try:
            info = probe(path)
        except MixError as exc:
            raise MixError(f"track {track.track_id}: {exc.detail}") from exc
        streams = info.video if track.kind == "video" else info.audio
        if not streams:
            raise MixError(f"track {track.track_id}: {track.file} has no {track.kind} stream")
        first = streams[0]
        sources.append(
            _Source(
                track=track,
                path=path,
                index=len(sources),
                offset=offset,
                start_frame=start_frame,
                end_frame=end_frame,
                width=first.width or 0,
                height=first.height or 0,
            )
        )
    return sources


def _intervals(sources: Sequence[_Source], total_frames: int) -> list[_Interval]:
    videos = [source for source in sources if source.track.kind == "video"]
    edges = {edge for s in videos for edge in (s.start_frame, s.end_frame)}
    cuts = sorted({0, total_frames, *edges})
    intervals: list[_Interval] = []
    for start, end in itertools.pairwise(cuts):
        visible = tuple(s for s in videos if s.start_frame <= start and s.end_frame >= end)
        if intervals and intervals[-1].visible == visible:
            intervals[-1] = _Interval(intervals[-1].start, end, visible)
        else:
            intervals.append(_Interval(start, end, visible))
    return intervals


def _thumbnail_time(intervals: Sequence[_Interval], total_frames: int) -> int:
    """A third of the way in, or the nearest moment where someone is on screen."""
    third = total_frames // 3
    showing = [i for i in intervals if i.visible]
    if not showing:
        return third
    nearest = min(showing, key=lambda i: 0 if i.start <= third < i.end else abs(i.start - third))
    if nearest.start <= third < nearest.end:
        return third
    return (nearest.start + nearest.end) // 2


# --- layout ----------------------------------------------------------------------------------


def _grid_shape(count: int) -> tuple[int, int]:
    """Columns and rows for ``count`` camera tiles."""
    if count <= 1:
        return 1, 1
    if count == 2:
        return 2, 1
    if count <= 4:
        return 2, 2
    if count <= 6:
        return 3, 2
    return 3, 3


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _fit(src_w: int, src_h: int, box: tuple[int, int, int, int], track_id: str) -> Tile:
    """Letterbox a ``src_w`` x ``src_h`` picture into ``box`` (x, y, w, h), centred."""
    bx, by, bw, bh = box
    if src_w <= 0 or src_h <= 0:
        src_w, src_h = bw, bh  # unknown size (probe said nothing): fill the box
    scale = min(bw / src_w, bh / src_h)
    w, h = min(_even(src_w * scale), bw), min(_even(src_h * scale), bh)
    x, y = bx + (bw - w) // 2 // 2 * 2, by + (bh - h) // 2 // 2 * 2
    return Tile(track_id, bx, by, bw, bh, x, y, w, h)


def layout(
    visible: Sequence[tuple[str, str, int, int]],
    width: int,
    height: int,
) -> list[Tile]:
    """Tiles for the visible video tracks, given as (track_id, source, width, height).

    Order is kept (callers pass tracks by start time, so tiles don't reshuffle when someone
    joins). The most recent screen share takes the left 75 % with up to six cameras in a strip
    on the right; otherwise the cameras make a grid of up to nine, a short last row centred.
    """
    screens = [v for v in visible if v[1] == "screen"]
    cameras = [v for v in visible if v[1] != "screen"]
    tiles: list[Tile] = []
    if screens:
        screen = screens[-1]
        main_w = _even(width * SCREEN_SHARE_FRACTION) if cameras else width
        tiles.append(_fit(screen[2], screen[3], (0, 0, main_w, height), screen[0]))
        shown = cameras[:MAX_STRIP_TILES]
        if shown:
            strip_w = width - main_w
            slot_h = _even(height / max(len(shown), 4))
            top = (height - slot_h * len(shown)) // 2 // 2 * 2
            for i, camera in enumerate(shown):
                box = (main_w, top + i * slot_h, strip_w, slot_h)
                tiles.append(_fit(camera[2], camera[3], box, camera[0]))
        return tiles
    shown = cameras[:MAX_GRID_TILES]
    if not shown:
        return tiles
    columns, rows = _grid_shape(len(shown))
    tile_w, tile_h = _even(width / columns), _even(height / rows)
    top = (height - tile_h * rows) // 2 // 2 * 2
    for i, camera in enumerate(shown):
        row, column = divmod(i, columns)
        in_row = min(columns, len(shown) - row * columns)
        left = (width - tile_w * in_row) // 2 // 2 * 2
        box = (left + column * tile_w, top + row * tile_h, tile_w, tile_h)
        tiles.append(_fit(camera[2], camera[3], box, camera[0]))
    return tiles


# --- the filter graph ------------------------------------------------------------------------


def _escape(value: str) -> str:
    """Quote a filter option value for both levels of ffmpeg's filter-graph escaping."""
    option_level = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


def _clean_text(text: str, max_chars: int) -> str:
    # Control characters would break the line or render as boxes; names are user input.
    cleaned = " ".join(
        "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text).split()
    )
    if len(cleaned) > max_chars:
        cleaned = cleaned[: max(1, max_chars - 1)].rstrip() + "…"
    return cleaned


@functools.cache
def _fonts() -> tuple[Path | None, Path | None]:
    """DejaVuSans (Latin, Greek, Cyrillic), and a CJK-capable font if one is installed."""
    latin: Path | None = None
    cjk: Path | None = None
    for root in _FONT_DIRS:
        if not root.is_dir():
            continue
        for candidate in sorted(root.rglob("*")):
            name = candidate.name
            if latin is None and name == "DejaVuSans.ttf":
                latin = candidate
            elif cjk is None and (name.startswith("wqy-") or "NotoSansCJK" in name):
                cjk = candidate
    return latin, cjk


def _font_for(text: str) -> Path | None:
    latin, cjk = _fonts()
    if cjk is not None and any(ord(ch) >= 0x2E80 for ch in text):
        return cjk
    return latin if latin is not None else cjk


class _GraphBuilder:
    def __init__(
        self, scratch: Path, title: str, width: int, height: int, fps: int, total_frames: int
    ) -> None:
        self.scratch = scratch
        self.title = title
        self.width = width
        self.height = height
        self.fps = fps
        self.total_frames = total_frames
        self.lines: list[str] = []
        self._texts = 0

    def build(
        self, sources: Sequence[_Source], intervals: Sequence[_Interval], burn: Path | None
    ) -> str:
        branches = self._video_inputs(sources, intervals)
        labels = [self._interval(n, interval, branches) for n, interval in enumerate(intervals)]
        tail = f"concat=n={len(labels)}:v=1:a=0,format=yuv420p"
        if burn is not None:
            # MarginV (in libass's 288-line script units) lifts captions above the name labels.
            tail += (
                f",subtitles=filename={_escape(str(burn))}:charenc=UTF-8"
                f":force_style={_escape('MarginV=' + str(CAPTION_MARGIN))}"
            )
        self.lines.append(f"{''.join(labels)}{tail}[vout]")
        self._audio(sources)
        return ";\n".join(self.lines) + "\n"

    def _video_inputs(
        self, sources: Sequence[_Source], intervals: Sequence[_Interval]
    ) -> dict[tuple[int, int], str]:
        """Each shown video decoded once, put on the output clock, then split per interval."""
        branches: dict[tuple[int, int], str] = {}
        for source in sources:
            uses = [n for n, i in enumerate(intervals) if source in i.visible]
            if not uses:
                continue
            labels = [f"[s{source.index}i{n}]" for n in uses]
            branches.update({(source.index, n): f"s{source.index}i{n}" for n in uses})
            # fps before split: duplicates fill gaps and slow screen shares (a frame exists at
            # every interval start), and 30 fps cameras are thinned before they are scaled.
            chain = f"[{source.index}:v:0]setpts=PTS-STARTPTS+{source.offset:.6f}/TB,fps={self.fps}"
            if len(labels) > 1:
                chain += f",split={len(labels)}"
            self.lines.append(chain + "".join(labels))
        return branches

    def _interval(self, n: int, interval: _Interval, branches: dict[tuple[int, int], str]) -> str:
        frames = interval.end - interval.start
        label = f"c{n}"
        self.lines.append(
            f"color=c=black:s={self.width}x{self.height}:r={self.fps},format=yuv420p,"
            f"trim=end_frame={frames}[{label}]"
        )
        shown = [(s.track.track_id, s.track.source, s.width, s.height) for s in interval.visible]
        by_id = {s.track.track_id: s for s in interval.visible}
        tiles = layout(shown, self.width, self.height)
        texts: list[str] = []
        for k, tile in enumerate(tiles):
            source = by_id[tile.track_id]
            picture = f"p{n}t{k}"
            # The branch is on the output clock in 1/fps units: cut it to the interval exactly,
            # then make it start at 0 like the interval's canvas.
            self.lines.append(
                f"[{branches[(source.index, n)]}]trim=start_pts={interval.start}:"
                f"end_pts={interval.end},setpts=PTS-{interval.start},"
                f"scale={tile.w}:{tile.h}:flags=bilinear,setsar=1[{picture}]"
            )
            after = f"c{n}t{k}"
            self.lines.append(
                f"[{label}][{picture}]overlay=x={tile.x}:y={tile.y}:eof_action=repeat[{after}]"
            )
            label = after
            name = source.track.display_name
            if source.track.source == "screen":
                name = f"{name} (screen)"
            texts.extend(self._name(name, tile))
        if not tiles:
            texts.extend(self._title_card())
        chain = f"[{label}]" + (",".join(texts) if texts else "null")
        self.lines.append(f"{chain}[v{n}]")
        return f"[v{n}]"

    def _text_file(self, text: str) -> Path:
        # Text goes through a file so user-chosen names never meet filter-graph syntax.
        self._texts += 1
        path = self.scratch / f"text{self._texts}.txt"
        path.write_text(text, encoding="utf-8")
        return path

    def _drawtext(self, text: str, size: int, x: str, y: str, box: bool) -> list[str]:
        font = _font_for(text)
        if font is None or not text:
            return []  # no font installed: the picture is still right, just unlabelled
        options = [
            f"fontfile={_escape(str(font))}",
            f"textfile={_escape(str(self._text_file(text)))}",
            "expansion=none",
            f"fontsize={size}",
            "fontcolor=white",
            f"x={x}",
            f"y={y}",
        ]
        if box:
            options += ["box=1", "boxcolor=black@0.55", f"boxborderw={max(2, size // 4)}"]
        return ["drawtext=" + ":".join(options)]

    def _name(self, name: str, tile: Tile) -> list[str]:
        size = max(12, min(28, tile.box_h // 14))
        text = _clean_text(name, max(4, int((tile.box_w - 16) / (size * 0.6))))
        x = f"{tile.box_x}+({tile.box_w}-text_w)/2"
        y = f"{tile.box_y + tile.box_h - size - max(4, size // 2)}"
        return self._drawtext(text, size, x, y, box=True)

    def _title_card(self) -> list[str]:
        size = max(16, self.height // 16)
        text = _clean_text(self.title, max(4, int(self.width * 0.9 / (size * 0.6))))
        return self._drawtext(text, size, "(w-text_w)/2", "(h-text_h)/2", box=False)

    def _audio(self, sources: Sequence[_Source]) -> None:
        samples = round(self.total_frames / self.fps * AUDIO_RATE)
        tracks = [s for s in sources if s.track.kind == "audio"]
        if not tracks:
            self.lines.append(f"anullsrc=r={AUDIO_RATE}:cl=stereo,atrim=end_sample={samples}[aout]")
            return
        for source in tracks:
            # Timestamps put the track at its offset; aresample's async mode then turns the lead-in
            # and any gap in the file (lost packets, DTX) into silence instead of pulling later
            # speech forward, and first_pts=0 makes every track start at 0 for amix.
            self.lines.append(
                f"[{source.index}:a:0]asetpts=PTS-STARTPTS+{source.offset:.6f}/TB,"
                f"aresample={AUDIO_RATE}:async=1:first_pts=0,"
                f"aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo"
                f"[a{source.index}]"
            )
        inputs = "".join(f"[a{s.index}]" for s in tracks)
        # normalize=0: amix would otherwise divide every voice by the number of tracks; the
        # limiter (without its auto-levelling) catches the rare sum above full scale instead.
        self.lines.append(
            f"{inputs}amix=inputs={len(tracks)}:duration=longest:dropout_transition=0:"
            f"normalize=0,alimiter=limit=0.95:level=0:latency=1,"
            f"apad=whole_len={samples},atrim=end_sample={samples}[aout]"
        )


# --- running ffmpeg --------------------------------------------------------------------------


def _file_url(path: Path) -> str:
    # "file:" + absolute path: a name starting with "-" or containing ":" is still just a file.
    return "file:" + str(path.resolve())


def _mix_command(
    sources: Sequence[_Source],
    script: Path,
    captions: Path | None,
    output: Path,
    title: str,
    duration: float,
) -> list[str]:
    command = [FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    for source in sources:
        # reinit_filter 0: a sender changing resolution mid-call must not rebuild the whole
        # graph (that would restart every canvas and cut); the tile's scale adapts on its own.
        command += ["-protocol_whitelist", "file", "-f", "matroska"]
        if source.track.kind == "video":
            command += ["-reinit_filter", "0", "-threads", "1"]
        command += ["-i", _file_url(source.path)]
    if captions is not None:
        command += ["-protocol_whitelist", "file", "-f", "webvtt", "-i", _file_url(captions)]
    command += ["-filter_complex_script", str(script), "-map", "[vout]", "-map", "[aout]"]
    if captions is not None:
        command += ["-map", f"{len(sources)}:s:0", "-c:s", "mov_text"]
        command += ["-metadata:s:s:0", "language=und"]
    command += [
        *("-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF)),
        *("-pix_fmt", "yuv420p", "-profile:v", "high"),
        *("-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(AUDIO_RATE), "-ac", "2"),
        *("-t", f"{duration:.6f}", "-map_metadata", "-1", "-map_chapters", "-1"),
        *("-metadata", f"title={_clean_text(title, 200)}"),
        *("-movflags", "+faststart", "-f", "mp4", _file_url(output)),
    ]
    return command


def _thumbnail_command(video: Path, at: float, output: Path) -> list[str]:
    width, height = THUMBNAIL_SIZE
    return [
        *(FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"),
        *("-protocol_whitelist", "file", "-ss", f"{at:.3f}", "-i", _file_url(video)),
        *("-frames:v", "1", "-an", "-sn"),
        *("-vf", f"scale={width}:{height}:force_original_aspect_ratio=decrease"),
        *("-c:v", "mjpeg", "-q:v", "4", "-update", "1", "-f", "image2", _file_url(output)),
    ]


def _run(command: list[str], *, timeout: float, what: str) -> str:
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
