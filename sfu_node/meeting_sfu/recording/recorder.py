"""Recording on the media node: a published track's packets into a capture file (recording.capture),
as cheaply as the node can, from the packets it already forwards.

A ``TrackRecorder`` is attached to a track like a subscriber. Its ``send`` (the hot path)
appends the packet and its arrival time to a bounded queue; every ``FLUSH_INTERVAL`` the queue
goes to the file in one ``os.writev`` on the event loop (a page-cache copy: no worker thread,
whose hand-over would cost more than the write). Nothing is parsed per packet except, for video,
the sequence number, to ask the publisher for a keyframe after loss (the file is only useful
from a keyframe on; one is asked for at the start too). Reordering, depacketizing and muxing
into Matroska happen after the recording, in the mixing worker (recording.remux).

A crash loses at most the last ``FLUSH_INTERVAL`` of media: the file is append-only and a cut
last chunk is left out when it is read.

CPU: ``make bench-recording`` measures it (docs/benchmarks.md, "Recording").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from array import array
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from meeting_sfu.media.depacketize import SEQ_MOD, payload_types
from meeting_sfu.media.taps import VIDEO_QUEUE
from meeting_sfu.media.tracks import PublishedTrack
from meeting_sfu.recording.capture import CaptureError, CaptureHeader, encode_chunk, read_capture
from meeting_shared.enums import TrackKind, TrackSource

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0  # seconds between writes: the most media a crash loses
AUDIO_QUEUE = 500  # packets: 10 s of Opus
KEYFRAME_RETRY = 1.0  # seconds between keyframe requests for loss


@dataclass(frozen=True)
class CapturedTrack:
    """What ``TrackRecorder.stop()`` wrote. With no packets there is no file."""

    path: Path
    kind: TrackKind
    source: TrackSource
    codec: str  # what the track forwarded when recording began
    user_id: uuid.UUID
    track_id: str
    packets: int  # written to the file
    bytes: int  # the file's size
    first_at: datetime | None  # UTC arrival of the first packet written
    last_at: datetime | None  # and of the last
    dropped_packets: int = 0  # the queue was full (the event loop was held up that long)
    error: str | None = None  # why writing stopped early (the file holds what came before)


def track_codec(track: PublishedTrack) -> str:
    """The codec the track forwards (what a recording of it will hold)."""
    names = payload_types(track.kind)
    forwarded = {names.get(pt, "") for pt in track.payload_types.values()}
    candidates = ("opus",) if track.kind == "audio" else ("vp8", "h264")
    for name in candidates:
        if name in forwarded:
            return name
    raise ValueError(f"nothing to record on this track: {sorted(forwarded)}")


class TrackRecorder:
    """Records one published track into a capture file at ``path`` (see the module docstring).

    ``start()`` attaches it; ``await stop()`` detaches it, writes what was queued and says what
    the file holds. The directory must exist; the file appears with the first packet."""

    def __init__(self, track: PublishedTrack, path: Path) -> None:
        self.track = track
        self.path = path
        self.header = CaptureHeader(
            track_id=track.track_id,
            user_id=track.user_id,
            kind=track.kind,
            source=track.source,
            codec=track_codec(track),
            payload_types=payload_types(track.kind),
        )
        self.packets = 0
        self.dropped_packets = 0
        self.cpu_seconds = 0.0  # the event loop's time in flushes (the hot path's is not in it)
        self.error: str | None = None
        self._queue: deque[tuple[float, bytes]] = deque(
            maxlen=AUDIO_QUEUE if track.kind == "audio" else VIDEO_QUEUE
        )
        self._fd: int | None = None
        self._bytes = 0
        self._first: float | None = None  # wall times
        self._last: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._result: CapturedTrack | None = None
        # Video: loss seen in the sequence numbers, to ask for a keyframe.
        self._highest: int | None = None  # sequence number
        self._requested = 0.0
        self._callbacks: set[asyncio.Future[None]] = set()

    # --- the hot path -----------------------------------------------------------------------

    def send(self, packet: bytes) -> None:
        queue = self._queue
        if len(queue) == queue.maxlen:
            self.dropped_packets += 1  # the deque drops the oldest
        queue.append((time.monotonic(), packet))

    async def send_rtcp(self, data: bytes, /) -> None:
        """Sender reports the track passes on: the capture needs none."""

    # --- lifetime -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None:
            return
        self.track.attach(self, self.send)
        self._task = asyncio.create_task(self._run(), name=f"recorder-{self.track.track_id}")
        if self.track.kind == "video":  # the file is useful from a keyframe on: ask at once
            self._ask_for_keyframe(time.monotonic())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.flush()
            if self.track.closed:
                return

    def flush(self) -> None:
        """Writes what is queued (one chunk); synchronous, on the event loop."""
        queue = self._queue
        if not queue:
            return
        started = time.thread_time()
        items = list(queue)
        queue.clear()
        if self.error is None:
            arrivals = array("d", [arrival for arrival, _ in items])
            packets = [packet for _, packet in items]
            wall_offset = time.time() - time.monotonic()
            try:
                self._write(encode_chunk(arrivals, packets, wall_offset))
            except OSError as error:  # a full disk: the file keeps what came before
                logger.exception("recording failed", extra={"path": str(self.path)})
                self.error = f"{type(error).__name__}: {error}"
                self._close()
            else:
                first = self.packets == 0
                self.packets += len(packets)
                self._first = self._first or arrivals[0] + wall_offset
                self._last = arrivals[-1] + wall_offset
                if self.track.kind == "video":
                    self._check_loss(packets, first)
        self.cpu_seconds += time.thread_time() - started

    def _write(self, buffers: list[bytes]) -> None:
        if self._fd is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
            self._fd = os.open(self.path, flags, 0o640)
            buffers = [self.header.encode(), *buffers]
        expected = sum(map(len, buffers))
        # Short writes happen only when the disk is full; retrying the rest says so clearly.
        written = os.writev(self._fd, buffers)
        if written < expected:
            rest = b"".join(buffers)[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        self._bytes += expected

    def _check_loss(self, packets: list[bytes], first: bool) -> None:
        """Ask for a keyframe when sequence numbers went missing since the last flush: more
        numbers were used up than packets came (no per-packet work; a packet reordered across
        a flush can cost a spare keyframe, which is harmless). The first flush asks again, in
        case the request at the start was lost on its way."""
        last = packets[-1][2] << 8 | packets[-1][3]
        if self._highest is None:
            self._highest = (packets[0][2] << 8 | packets[0][3]) - 1
        advance = (last - self._highest + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2
        if advance > 0:  # (else the chunk ended with a late packet: judge the next one)
            self._highest = last
        now = time.monotonic()
        if (first or advance > len(packets)) and now - self._requested >= KEYFRAME_RETRY:
            self._ask_for_keyframe(now)

    def _ask_for_keyframe(self, now: float) -> None:
        self._requested = now
        task = asyncio.ensure_future(self._request_keyframe())
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _request_keyframe(self) -> None:
        try:
            await self.track.request_keyframe()
        except Exception:
            logger.warning("a keyframe request failed", exc_info=True)

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    async def stop(self) -> CapturedTrack:
        """Detach and write what was queued."""
        if self._result is not None:
            return self._result
        self.track.detach(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()
        self._close()
        if self._callbacks:
            await asyncio.wait(self._callbacks, timeout=5.0)
        self._result = CapturedTrack(
            path=self.path,
            kind=self.track.kind,
            source=self.track.source,
            codec=self.header.codec,
            user_id=self.track.user_id,
            track_id=self.track.track_id,
            packets=self.packets,
            bytes=self._bytes,
            first_at=_utc(self._first),
            last_at=_utc(self._last),
            dropped_packets=self.dropped_packets,
            error=self.error,
        )
        return self._result


def _utc(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def read_captured(path: Path) -> CapturedTrack | None:
    """What a capture file left on disk holds (after a crash: the recorder never said); None
    if it holds no packet or is no capture."""
    try:
        header, chunks = read_capture(path)
        packets, first, last = 0, None, None
        for chunk in chunks:
            packets += len(chunk.packets)
            first = first or chunk.arrivals[0] + chunk.wall_offset
            last = chunk.arrivals[-1] + chunk.wall_offset
    except (CaptureError, OSError):
        logger.warning("not a readable capture", extra={"path": str(path)}, exc_info=True)
        return None
    if not packets:
        return None
    return CapturedTrack(
        path=path,
        kind=header.kind,
        source=header.source,
        codec=header.codec,
        user_id=header.user_id,
        track_id=header.track_id,
        packets=packets,
        bytes=path.stat().st_size,
        first_at=_utc(first),
        last_at=_utc(last),
    )
