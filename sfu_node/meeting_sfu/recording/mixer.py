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
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from meeting_sfu.recording.layout import (
    Interval,
    Source,
    Tile,
    layout,
    place_tracks,
    thumbnail_frame,
    visible_spans,
)
from meeting_sfu.recording.probe import (
    FFMPEG,
    PROBE_TIMEOUT_SECONDS,
    MixError,
    file_url,
    probe,
    run,
)
from meeting_shared.services.recordings import Timeline

THUMBNAIL_SIZE = (640, 360)
AUDIO_RATE = 48_000
AUDIO_BITRATE = "128k"
X264_PRESET = "veryfast"
X264_CRF = 26
CAPTION_MARGIN = 30
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


@dataclass(frozen=True)
class MixResult:
    path: Path
    duration_seconds: float
    size_bytes: int
    thumbnail: Path
    captions: Path | None = None
    """The WebVTT kept beside the MP4 (browsers show captions only from a <track> element)."""


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

    sources = place_tracks(timeline, folder, fps, total_frames)
    intervals = visible_spans(sources, total_frames)
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
            run(
                _mix_command(sources, script, captions, part, timeline.title, total_frames / fps),
                timeout=limit,
                what="ffmpeg mix",
            )
        at = thumbnail_frame(intervals, total_frames) / fps
        run(
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
        self, sources: Sequence[Source], intervals: Sequence[Interval], burn: Path | None
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
        self, sources: Sequence[Source], intervals: Sequence[Interval]
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

    def _interval(self, n: int, interval: Interval, branches: dict[tuple[int, int], str]) -> str:
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

    def _audio(self, sources: Sequence[Source]) -> None:
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


def _mix_command(
    sources: Sequence[Source],
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
        command += ["-i", file_url(source.path)]
    if captions is not None:
        command += ["-protocol_whitelist", "file", "-f", "webvtt", "-i", file_url(captions)]
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
        *("-movflags", "+faststart", "-f", "mp4", file_url(output)),
    ]
    return command


def _thumbnail_command(video: Path, at: float, output: Path) -> list[str]:
    width, height = THUMBNAIL_SIZE
    return [
        *(FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"),
        *("-protocol_whitelist", "file", "-ss", f"{at:.3f}", "-i", file_url(video)),
        *("-frames:v", "1", "-an", "-sn"),
        *("-vf", f"scale={width}:{height}:force_original_aspect_ratio=decrease"),
        *("-c:v", "mjpeg", "-q:v", "4", "-update", "1", "-f", "image2", file_url(output)),
    ]
