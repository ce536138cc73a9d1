"""Where the mixer shows what: which track files appear when (``place_tracks``), the spans in
which the set of visible videos stays the same (``visible_spans``), and each span's tiles
(``layout``: a grid of cameras, or a screen share large with the cameras in a strip beside it)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from meeting_sfu.recording.probe import MixError, probe
from meeting_shared.services.recordings import RecordedTrack, Timeline

SCREEN_SHARE_FRACTION = 0.75
MAX_GRID_TILES = 9
MAX_STRIP_TILES = 6


@dataclass(frozen=True)
class Source:
    """One track file that appears in the output, as ffmpeg input number ``index``."""

    track: RecordedTrack
    path: Path
    index: int
    offset: float
    """Seconds from the recording start to the track's first media (negative: began earlier)."""
    start_frame: int
    end_frame: int
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Interval:
    start: int
    end: int
    visible: tuple[Source, ...]


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


def place_tracks(timeline: Timeline, folder: Path, fps: int, total_frames: int) -> list[Source]:
    base = folder.resolve()
    sources: list[Source] = []
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
            Source(
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


def visible_spans(sources: Sequence[Source], total_frames: int) -> list[Interval]:
    videos = [source for source in sources if source.track.kind == "video"]
    edges = {edge for s in videos for edge in (s.start_frame, s.end_frame)}
    cuts = sorted({0, total_frames, *edges})
    intervals: list[Interval] = []
    for start, end in itertools.pairwise(cuts):
        visible = tuple(s for s in videos if s.start_frame <= start and s.end_frame >= end)
        if intervals and intervals[-1].visible == visible:
            intervals[-1] = Interval(intervals[-1].start, end, visible)
        else:
            intervals.append(Interval(start, end, visible))
    return intervals


def thumbnail_frame(intervals: Sequence[Interval], total_frames: int) -> int:
    """A third of the way in, or the nearest moment where someone is on screen."""
    third = total_frames // 3
    showing = [i for i in intervals if i.visible]
    if not showing:
        return third
    nearest = min(showing, key=lambda i: 0 if i.start <= third < i.end else abs(i.start - third))
    if nearest.start <= third < nearest.end:
        return third
    return (nearest.start + nearest.end) // 2


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
