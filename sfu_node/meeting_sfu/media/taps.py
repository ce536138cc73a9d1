"""Taps: a copy of a published track, taken off the forwarding path for live captions (speech
segments) and emotion cues (a still picture now and then).

A tap is attached to a track like a subscriber, but its ``send`` only appends the packet to a
bounded queue (the oldest is dropped when it is full, and counted): the hot path never parses or
decodes for it. A task drains the queue every ``DRAIN_INTERVAL`` and does the work there.

Audio: packets are put back in sequence order (a missing one is waited for until the next
drain), Opus is decoded with PyAV and resampled to 16 kHz mono, and RTP timestamp jumps (lost
packets, DTX pauses in which the sender sends nothing) become silence, at most ``MAX_GAP`` of it.
Silero VAD then cuts the stream into speech segments (media.vad). Measured on the 2-core CI
machine, fed in real time: 15-20 ms of CPU per second per speaking participant (1.5-2 % of a
core), about half of it the VAD. A drain's work is ~1.3 ms (up to ~4 ms), so it runs in a worker
thread (FFmpeg and onnxruntime release the GIL); the event loop's share is ~0.25 ms a drain.
Draining every 100 ms rather than 50 ms halves the cost (the VAD's per-call overhead) and adds
at most 100 ms to the ~0.5 s from the end of speech to its segment.

Video: the sampler depacketizes VP8 and H.264 (media.depacketize: RFC 7741, RFC 6184 single
NAL units, STAP-A, FU-A) but by default only assembles and decodes keyframes: it asks the
publisher for one (PLI) once per ``interval`` and turns the next keyframe into a JPEG. Measured
in real time on the same machine, 640x480 at 30 fps (aiortc's encoders, ~500 kbit/s VP8,
~800 kbit/s H.264), CPU per participant:

- decoding every frame, one JPEG a second: VP8 25-31 ms per second (2.5-3 % of a core),
  H.264 17-21 ms;
- keyframes only, one a second: VP8 5-6.5 ms per second (0.6 %), H.264 2-8 ms; of that, a
  JPEG is ~1.5 ms and skimming the 29 other frames' packets ~0.3 ms.

Keyframes only is four to five times cheaper for the node, and a decoder that only ever sees
keyframes never shows the smears that follow a lost packet. Its price is upstream: a keyframe a
second costs the publisher bits. aiortc's VP8 encoder keeps its bitrate and spends fewer bits
on the frames between (median 2.1 kB -> 1.5 kB, keyframes 9.4 kB); its H.264 encoder's forced
keyframes are ~100 kB, +43 % bitrate. Where that matters (large screen shares),
``strategy="continuous"`` decodes every frame instead and asks for keyframes only after loss.
Decoding and JPEG run in the worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, ParamSpec, TypeVar

import av
import numpy as np
from PIL import Image

from meeting_sfu.media import rtp
from meeting_sfu.media.depacketize import (
    OPUS_RATE,
    TS_MOD,
    VIDEO_CLOCK,
    EncodedFrame,
    FrameAssembler,
    Reorder,
    payload_of,
    payload_types,
)
from meeting_sfu.media.tracks import PublishedTrack
from meeting_sfu.media.vad import SAMPLE_RATE, Samples, Segment, SpeechSegmenter

logger = logging.getLogger(__name__)

DRAIN_INTERVAL = 0.1  # seconds between drains: the reorder wait, and the added latency
MAX_GAP = 2  # seconds of silence a timestamp jump becomes at most; later audio is re-timed
VIDEO_QUEUE = 2000  # packets (a few seconds of a 2.5 Mbit/s screen share)
STOP_GRACE = 10.0  # seconds stop() waits for callbacks still running


P = ParamSpec("P")
T = TypeVar("T")


@functools.cache
def _workers() -> ThreadPoolExecutor:
    """Threads for decoding, the VAD and JPEG: FFmpeg and onnxruntime release the GIL, so the
    event loop forwards packets meanwhile. Taps have their own pool so that a busy meeting
    cannot hold up what else runs in the default executor (DNS lookups, for one)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="media-tap")


async def _in_worker(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    call = functools.partial(function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_workers(), call)


@dataclass(frozen=True)
class SpeechSegment:
    """Someone's speech, ready to transcribe."""

    user_id: uuid.UUID
    track_id: str
    started_at: datetime  # UTC
    ended_at: datetime
    pcm16: bytes  # 16 kHz mono, signed 16-bit little-endian

    @property
    def duration(self) -> float:
        return len(self.pcm16) / 2 / SAMPLE_RATE


class _AudioPipeline:
    """All a drain does with audio packets: order, decode, fill gaps, resample, segment. Only
    one drain at a time uses it, in the event loop or in a worker thread."""

    def __init__(self, track: PublishedTrack, opus_type: int | None) -> None:
        self.user_id = track.user_id
        self.track_id = track.track_id
        self.opus_type = opus_type
        self.reorder = Reorder()
        self.segmenter = SpeechSegmenter()
        self.decoder: Any = av.CodecContext.create("opus", "r")
        self.decoder.sample_rate = OPUS_RATE
        self.decoder.layout = "stereo"
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        self.offset = 0  # 16 kHz samples produced since the stream began
        self.expected: int | None = None  # extended RTP timestamp the next packet should have
        self.anchors: list[tuple[int, float]] = []  # (offset, wall time) it was heard at
        self.undecodable = 0

    def process(self, packets: list[bytes], now: float, final: bool) -> list[SpeechSegment]:
        self.reorder.push(packets)
        chunks: list[Samples] = []
        timed: list[tuple[int, int]] = []  # (offset, extended timestamp) to anchor in wall time
        for _, packet in self.reorder.release(everything=final):
            header = rtp.parse_header(packet)
            if header is None or header.payload_type != self.opus_type:
                self.undecodable += 1
                continue
            if self.expected is None:
                timestamp = header.timestamp  # extended from here on: no wrap-around
                timed.append((self.offset, timestamp))
                jump = 0
            else:
                jump = (header.timestamp - self.expected + TS_MOD // 2) % TS_MOD - TS_MOD // 2
                timestamp = self.expected + jump
                if jump > 0:  # lost packets or a DTX pause: silence, as much as there was
                    gap = min(jump, MAX_GAP * OPUS_RATE) * SAMPLE_RATE // OPUS_RATE
                    chunks.append(np.zeros(gap, dtype=np.float32))
                    self.offset += gap
                if abs(jump) > MAX_GAP * OPUS_RATE:  # a long pause, or the sender's clock
                    timed.append((self.offset, timestamp))  # jumped back: re-time from here
            decoded = self._decode(payload_of(packet, header), chunks)
            if decoded and (self.expected is None or jump > -MAX_GAP * OPUS_RATE):
                # (a packet overlapping its predecessor a little must not pull time back)
                self.expected = max(self.expected or timestamp, timestamp + decoded)
            elif decoded:
                self.expected = timestamp + decoded
        if final:
            self._resampled(None, chunks)
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        segments = self.segmenter.push(samples)
        if final:
            segments += self.segmenter.flush()
        if timed and self.expected is not None:
            # The newest packet arrived about now; older ones as long before as they play.
            self.anchors += [(o, now - (self.expected - t) / OPUS_RATE) for o, t in timed]
            del self.anchors[:-16]
        return [self._speech(segment) for segment in segments]

    def _decode(self, payload: bytes, chunks: list[Samples]) -> int:
        """Decodes one Opus packet into ``chunks``; returns its length at 48 kHz."""
        try:
            frames = self.decoder.decode(av.Packet(payload))
        except av.FFmpegError:
            self.undecodable += 1
            return 0  # the next packet's timestamp jump fills its time with silence
        length = 0
        for frame in frames:
            length += frame.samples
            self._resampled(frame, chunks)
        return length

    def _resampled(self, frame: av.AudioFrame | None, chunks: list[Samples]) -> None:
        for out in self.resampler.resample(frame):
            samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            chunks.append(samples)
            self.offset += len(samples)

    def _wall_time(self, offset: int) -> datetime:
        """From the nearest anchor: padding before speech that follows a long pause lies in
        the silence filled in for the pause, and belongs to the speech's anchor."""
        anchor_offset, anchor_time = min(
            self.anchors or [(0, time.time())], key=lambda anchor: abs(anchor[0] - offset)
        )
        return datetime.fromtimestamp(anchor_time + (offset - anchor_offset) / SAMPLE_RATE, UTC)

    def _speech(self, segment: Segment) -> SpeechSegment:
        pcm = np.clip(segment.samples, -1.0, 1.0) * 32767
        return SpeechSegment(
            user_id=self.user_id,
            track_id=self.track_id,
            started_at=self._wall_time(segment.start),
            ended_at=self._wall_time(segment.end),
            pcm16=pcm.astype("<i2").tobytes(),
        )


class _Drained:
    """What taps share: the queue the hot path fills, the task
    that drains it and the callbacks it schedules. Subclasses add ``stop()``."""

    def __init__(self, track: PublishedTrack, max_queue: int) -> None:
        self.track = track
        self.dropped_packets = 0
        self._queue: deque[bytes] = deque(maxlen=max_queue)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._callbacks: set[asyncio.Future[None]] = set()

    # --- called by the track (the hot path) ---------------------------------------------------

    def send(self, packet: bytes) -> None:
        queue = self._queue
        if len(queue) == queue.maxlen:
            self.dropped_packets += 1  # the deque drops the oldest
        queue.append(packet)

    async def send_rtcp(self, data: bytes, /) -> None:
        """Sender reports the track passes on to what it forwards to: a tap needs none."""

    # --- lifetime ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None:
            return
        self.track.attach(self, self.send)
        self._task = asyncio.create_task(self._run(), name=f"tap-{self.track.track_id}")

    async def _finish(self) -> None:
        """Detach, process what was queued, end the task and wait for callbacks still running."""
        self.track.detach(self)
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._callbacks:
            _, late = await asyncio.wait(self._callbacks, timeout=STOP_GRACE)
            for task in late:
                task.cancel()

    async def _run(self) -> None:
        try:
            await self._prepare()
        except Exception:
            logger.exception("a tap could not start", extra={"track_id": self.track.track_id})
            self.track.detach(self)
            return
        while True:
            final = self._stopping or self.track.closed
            batch = list(self._queue)
            self._queue.clear()
            try:
                await self._drain(batch, final)
            except Exception:  # one bad batch must not end captions for the rest of the meeting
                logger.exception("a tap failed on a batch", extra={"track_id": self.track.track_id})
            if final:
                return
            await asyncio.sleep(DRAIN_INTERVAL)

    async def _prepare(self) -> None:
        """Set up decoders (in a worker thread: loading a model takes a while)."""

    async def _drain(self, batch: list[bytes], final: bool) -> None:
        raise NotImplementedError

    def _schedule(self, call: Awaitable[None]) -> None:
        """Run a callback without holding up draining; its errors are logged."""
        task = asyncio.ensure_future(call)
        self._callbacks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._callbacks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "a tap callback failed",
                exc_info=task.exception(),
                extra={"track_id": self.track.track_id},
            )


class _Tap(_Drained):
    """What audio and video taps share."""

    async def stop(self) -> None:
        """Detach, process what was queued (the audio tap delivers the segment in progress),
        end the task and wait for callbacks still running."""
        await self._finish()


class AudioTap(_Tap):
    """Speech segments of one published audio track."""

    def __init__(
        self,
        track: PublishedTrack,
        on_segment: Callable[[SpeechSegment], Awaitable[None]],
        *,
        max_queue: int = 500,
    ) -> None:
        if track.kind != "audio":
            raise ValueError("an audio tap needs an audio track")
        super().__init__(track, max_queue)
        self.segments = 0
        self._on_segment = on_segment
        self._pipeline: _AudioPipeline | None = None

    async def _prepare(self) -> None:
        opus = {pt for pt, name in payload_types("audio").items() if name == "opus"}
        forwarded = opus & set(self.track.payload_types.values())
        opus_type = min(forwarded) if forwarded else None
        if opus_type is None:
            logger.warning("no Opus on this track: nothing to caption")
        self._pipeline = await _in_worker(_AudioPipeline, self.track, opus_type)

    async def _drain(self, batch: list[bytes], final: bool) -> None:
        pipeline = self._pipeline
        if pipeline is None:
            return
        if not batch and not pipeline.reorder.pending and not final:
            return
        segments = await _in_worker(pipeline.process, batch, time.time(), final)
        for segment in segments:
            self.segments += 1
            self._schedule(self._on_segment(segment))

    @property
    def lost_packets(self) -> int:
        return self._pipeline.reorder.lost if self._pipeline is not None else 0


# --- video ---------------------------------------------------------------------------------------


class _VideoPipeline(FrameAssembler):
    """Depacketizes a video track into frames and decodes what the sampler needs: every frame
    (``keyframes_only=False``) or keyframes only, skimming the rest."""

    def __init__(self, keyframes_only: bool) -> None:
        super().__init__(keyframes_only)
        self.decoders: dict[str, Any] = {}
        self.decodable = False  # continuous decoding: since a keyframe, nothing was lost
        self.needs_keyframe = True
        self.frames_decoded = 0

    def decode(self, frame: EncodedFrame) -> av.VideoFrame | None:
        """The decoded picture, or None (undecodable, or waiting for a keyframe)."""
        if not self.keyframes_only:
            if frame.keyframe:
                self.decodable = True
            if not self.decodable:
                self.needs_keyframe = True
                return None
        decoder: Any = self.decoders.get(frame.codec)
        if decoder is None:
            decoder = self.decoders[frame.codec] = av.CodecContext.create(frame.codec, "r")
            decoder.thread_count = 1  # one participant must not take every core
        try:
            pictures = decoder.decode(av.Packet(frame.data))
        except av.FFmpegError:
            self.decodable = False
            self.needs_keyframe = True
            return None
        self.frames_decoded += len(pictures)
        return pictures[-1] if pictures else None

    def lost_since(self, lost: int) -> bool:
        """Whether packets were lost since the count was ``lost`` (continuous decoding then
        waits for a keyframe: decoding on would show smears)."""
        if self.reorder.lost != lost:
            self.decodable = False
            self.needs_keyframe = True
            return True
        return False


def to_jpeg(picture: av.VideoFrame, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture.to_ndarray(format="rgb24")).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class VideoSampler(_Tap):
    """At most one JPEG per ``interval`` of one published video track.

    ``strategy`` "keyframes" (the default, see the module docstring) asks for a keyframe each
    interval and decodes only keyframes; "continuous" decodes every frame and converts one."""

    def __init__(
        self,
        track: PublishedTrack,
        on_frame: Callable[[uuid.UUID, bytes], Awaitable[None]],
        *,
        interval: float = 1.0,
        strategy: Literal["keyframes", "continuous"] = "keyframes",
    ) -> None:
        if track.kind != "video":
            raise ValueError("a video sampler needs a video track")
        super().__init__(track, VIDEO_QUEUE)
        self.interval = interval
        self.strategy = strategy
        self.frames = 0
        self._on_frame = on_frame
        self._pipeline = _VideoPipeline(keyframes_only=strategy == "keyframes")
        self._taken: int | None = None  # RTP timestamp of the last picture taken
        self._taken_at = 0.0  # and when (monotonic)
        self._requested = 0.0  # when a keyframe was last asked for

    @property
    def decoded_frames(self) -> int:
        return self._pipeline.frames_decoded

    def _due(self, timestamp: int) -> bool:
        """Whether a frame is an interval after the last picture, by the publisher's clock: the
        drains' timing would blur the spacing of keyframes that come once an interval."""
        if self._taken is None:
            return True
        elapsed = ((timestamp - self._taken) % (1 << 32)) / VIDEO_CLOCK
        return elapsed >= self.interval * 0.95  # a frame early still makes one an interval

    async def _drain(self, batch: list[bytes], final: bool) -> None:
        pipeline = self._pipeline
        lost = pipeline.reorder.lost
        frames = pipeline.process(batch, final)
        if self.strategy == "continuous":
            pipeline.lost_since(lost)
        else:  # only the newest due keyframe is decoded
            frames = [f for f in frames if f.keyframe and self._due(f.timestamp)][-1:]
        due = next((f for f in reversed(frames) if self._due(f.timestamp)), None)
        if frames:
            jpeg = await _in_worker(self._decode, frames, due is not None)
            if jpeg is not None and due is not None:
                self.frames += 1
                self._taken, self._taken_at = frames[-1].timestamp, time.monotonic()
                self._schedule(self._on_frame(self.track.user_id, jpeg))
        now = time.monotonic()
        want = pipeline.needs_keyframe or (
            self.strategy == "keyframes" and now - self._taken_at >= self.interval
        )
        if want and not final and now - self._requested >= self.interval / 2:
            self._requested = now
            pipeline.needs_keyframe = False
            await self.track.request_keyframe()

    def _decode(self, frames: list[EncodedFrame], convert: bool) -> bytes | None:
        picture = None
        for frame in frames:
            picture = self._pipeline.decode(frame) or picture
        return to_jpeg(picture) if convert and picture is not None else None
