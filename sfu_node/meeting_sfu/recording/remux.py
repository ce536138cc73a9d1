"""Remuxing: a capture file (recording.capture: a track's RTP packets as the node received them)
into a Matroska file, without decoding or re-encoding. The mixing worker runs it after a
recording stops, so none of this costs the media node anything.

The capture is replayed as the node received it, in steps of ``REORDER_WINDOW`` of arrival time:
packets are put back in order (a missing one is waited for one step), video is depacketized into
frames (media.depacketize, as the live taps do), and Opus packets and VP8/H.264 frames go into
the file as they came; only keyframe headers are read (VP8's frame header, H.264's SPS) to
learn the picture size.

Timestamps are the RTP timestamps (48 kHz audio, 90 kHz video) from the first written packet,
unwrapped. Gaps the sender made are kept (audio DTX, lost packets, a camera sending nothing: the
player shows silence or holds the picture); where the RTP clock disagrees with the arrival times
by more than ``CLOCK_JUMP`` between steps (a sender whose clock paused or jumped, as when its
track was replaced), the file follows the arrival times. Video starts at a keyframe (the node
asks for one when recording starts); after packet loss frames are dropped until the next
keyframe (the node asks for one on loss; ``keyframe_gaps`` counts these waits).

The muxer closes a cluster at least every ``CLUSTER_MS`` and flushes it, so a remux that is
killed leaves a file players still read.

Resolution changes (a keyframe with a new size, as when a browser adapts or switches cameras)
are written into the same file: Matroska keeps one size per track, the one of the first
keyframe (``width``/``height``). FFmpeg-based players (ffplay, mpv, VLC) and browsers show each
frame at its own size; ``ffmpeg`` transcoding scales later frames to the first size by default.
``size_changes`` counts them, so a pipeline that cares can re-encode.
"""

from __future__ import annotations

import functools
import io
import itertools
import logging
import os
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from av.container import OutputContainer
from av.stream import Stream

from meeting_sfu.media import rtp
from meeting_sfu.media.depacketize import (
    OPUS_RATE,
    START_CODE,
    TS_MOD,
    VIDEO_CLOCK,
    EncodedFrame,
    FrameAssembler,
    Reorder,
    annexb_units,
    payload_of,
)
from meeting_sfu.recording.capture import CaptureHeader, read_capture
from meeting_shared.enums import TrackKind, TrackSource

logger = logging.getLogger(__name__)

Codec = Literal["opus", "vp8", "h264"]

REORDER_WINDOW = 0.1  # seconds of arrival time a step of the replay takes (see above)
CLUSTER_MS = 1000  # the most media a crash loses: the muxer holds a cluster until it ends
CLOCK_JUMP = 1.0  # seconds the RTP clock may stray from the arrival times between steps
VIDEO_FRAME = VIDEO_CLOCK // 30  # a frame's length where timestamps say nothing better
H264_SPS = 7
H264_PPS = 8


@dataclass(frozen=True)
class RemuxedTrack:
    """What ``remux`` wrote. With nothing written (no media, or no keyframe), there is no file
    and ``started_at``/``ended_at`` are None."""

    path: Path
    kind: TrackKind
    source: TrackSource
    codec: Codec
    user_id: uuid.UUID
    track_id: str
    started_at: datetime | None  # UTC: when the first written media arrived
    ended_at: datetime | None  # the end of the last written media on the same clock
    packets: int  # RTP packets written
    frames: int  # video frames, or Opus packets, written
    bytes: int  # the file's size
    width: int | None = None  # video: the size in the file's header (the first keyframe's)
    height: int | None = None
    keyframe_gaps: int = 0  # times frames were dropped until a keyframe, after loss
    size_changes: int = 0  # keyframes with another size than the one before
    lost_packets: int = 0  # never arrived (gaps in the sequence numbers)
    error: str | None = None  # why writing stopped early (the file holds what came before)

    @property
    def duration(self) -> float:
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return (self.ended_at - self.started_at).total_seconds()


# --- what the remuxer reads from the media -------------------------------------------------


def opus_samples(payload: bytes) -> int:
    """The length of an Opus packet at 48 kHz, from its TOC byte (RFC 6716 section 3.1)."""
    if not payload:
        return 0
    config = payload[0] >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        frame = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:  # hybrid: 10, 20 ms
        frame = (480, 960)[config & 1]
    else:  # CELT: 2.5, 5, 10, 20 ms
        frame = (120, 240, 480, 960)[config & 3]
    count = payload[0] & 3
    if count == 0:
        return frame
    if count < 3:
        return 2 * frame
    return frame * (payload[1] & 0x3F) if len(payload) > 1 else 0


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height of a VP8 keyframe (RFC 6386 section 9.1), None for other frames."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width, height = struct.unpack_from("<HH", frame, 6)
    return width & 0x3FFF, height & 0x3FFF  # the top two bits are a scaling hint


class _Bits:
    """Reads an H.264 RBSP bit by bit (Exp-Golomb codes, ITU-T H.264 section 9.1)."""

    def __init__(self, unit: bytes) -> None:
        rbsp = unit.replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention bytes
        self.value = int.from_bytes(rbsp, "big")
        self.left = len(rbsp) * 8

    def bits(self, count: int) -> int:
        if count > self.left:
            raise ValueError("SPS cut short")
        self.left -= count
        return (self.value >> self.left) & ((1 << count) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))


def h264_size(sps: bytes) -> tuple[int, int] | None:
    """Width and height from a sequence parameter set NAL unit (H.264 section 7.3.2.1.1),
    cropping applied; None if it cannot be read."""
    try:
        bits = _Bits(sps[1:])  # after the NAL unit header
        profile = bits.bits(8)
        bits.bits(16)  # constraint flags, level
        bits.ue()  # seq_parameter_set_id
        chroma_format = 1
        separate_planes = 0
        if profile in HIGH_PROFILES:
            chroma_format = bits.ue()
            if chroma_format == 3:
                separate_planes = bits.bits(1)
            bits.ue()  # bit depths
            bits.ue()
            bits.bits(1)  # qpprime_y_zero_transform_bypass
            if bits.bits(1):  # scaling matrices: skipped over, they say nothing about size
                for index in range(8 if chroma_format != 3 else 12):
                    if bits.bits(1):
                        last = following = 8
                        for _ in range(16 if index < 6 else 64):
                            if following:
                                following = (last + bits.se() + 256) % 256
                            last = following or last
        bits.ue()  # log2_max_frame_num_minus4
        order_type = bits.ue()
        if order_type == 0:
            bits.ue()
        elif order_type == 1:
            bits.bits(1)
            bits.se()
            bits.se()
            for _ in range(bits.ue()):
                bits.se()
        bits.ue()  # max_num_ref_frames
        bits.bits(1)  # gaps_in_frame_num_value_allowed
        width_mbs = bits.ue() + 1
        height_units = bits.ue() + 1
        frames_only = bits.bits(1)
        if not frames_only:
            bits.bits(1)  # mb_adaptive_frame_field
        bits.bits(1)  # direct_8x8_inference
        crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.bits(1) else (0, 0, 0, 0)
    except ValueError:
        return None
    if separate_planes or chroma_format == 0:
        unit_x, unit_y = 1, 2 - frames_only
    else:
        unit_x = 1 if chroma_format == 3 else 2
        unit_y = (2 if chroma_format == 1 else 1) * (2 - frames_only)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frames_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    return (width, height) if width > 0 and height > 0 else None


# --- the file ---------------------------------------------------------------------------------


def _ogg_crc(data: bytes) -> int:
    """Ogg's page checksum (RFC 3533: CRC-32, polynomial 0x04C11DB7, not reflected)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packet: bytes, sequence: int, flags: int, granule: int) -> bytes:
    page = bytearray(b"OggS")
    page += struct.pack("<BBqIIIB", 0, flags, granule, 1, sequence, 0, 1)
    page += bytes((len(packet),)) + packet
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


@functools.cache
def _opus_ogg() -> bytes:
    """A minimal Ogg Opus stream (RFC 7845): the OpusHead the Matroska track needs as its
    CodecPrivate (2 channels, as WebRTC negotiates Opus; no pre-skip: RTP timestamps start
    at the first sample), the comment header, and one silent packet.

    PyAV cannot give a muxing stream extradata, but it copies a template stream's: an Ogg
    demuxer reading this is that template, and no encoder gets opened for it."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 0, OPUS_RATE, 0, 0)
    tags = b"OpusTags" + struct.pack("<II", 0, 0)
    silence = b"\xf8\xff\xfe"  # CELT 20 ms, one frame, digital silence
    return (
        _ogg_page(head, 0, 0x02, 0) + _ogg_page(tags, 1, 0x00, 0) + _ogg_page(silence, 2, 0x04, 960)
    )


class _Matroska:
    """One Matroska file with one stream, written packet by packet without decoding."""

    def __init__(self, path: Path, codec: Codec, size: tuple[int, int] | None) -> None:
        # flush_packets: what the muxer finished (a closed cluster) goes to the file at once.
        options = {"cluster_time_limit": str(CLUSTER_MS), "flush_packets": "1"}
        self.container: OutputContainer = av.open(
            str(path), "w", format="matroska", container_options=options
        )
        self.time_base = Fraction(1, OPUS_RATE if codec == "opus" else VIDEO_CLOCK)
        try:
            self.stream = self._add_stream(codec, size)
        except Exception:
            self.container.close()
            raise

    def _add_stream(self, codec: Codec, size: tuple[int, int] | None) -> Stream:
        if codec == "opus":
            with av.open(io.BytesIO(_opus_ogg()), format="ogg") as template:
                return self.container.add_stream_from_template(
                    template.streams.audio[0], opaque=True
                )
        width, height = size or (0, 0)
        # H.264: PyAV takes the first packet's SPS and PPS as extradata (the muxer writes them
        # as avcC and turns Annex B into length-prefixed units); VP8 needs none.
        return self.container.add_mux_stream(
            codec, width=width, height=height, time_base=self.time_base
        )

    def write(self, data: bytes, pts: int, keyframe: bool, duration: int | None) -> None:
        packet = av.Packet(data)
        packet.stream = self.stream
        packet.time_base = self.time_base
        packet.pts = packet.dts = pts
        packet.is_keyframe = keyframe
        if duration:
            packet.duration = duration
        self.container.mux(packet)

    def close(self) -> None:
        self.container.close()


# --- timing -----------------------------------------------------------------------------------


class _Timeline:
    """RTP timestamps to the file's (clock units since the first written packet): unwrapped,
    kept where the sender paused (gaps are real time), and put back on the wall clock where the
    sender's clock jumped or stood still."""

    def __init__(self, clock: int, nominal: int) -> None:
        self.clock = clock
        self.nominal = nominal  # a packet's length, for steps the timestamps get wrong
        self.started: float | None = None  # wall time (time.time) of position 0
        self.end = 0  # position the last placed packet ends at
        self._last_rtp = 0
        self._last_position = 0
        self._last_drain = 0.0  # monotonic time of the drain that placed the last packet

    def place(self, timestamps: list[int], monotonic: float, wall: float) -> list[int]:
        """Positions of a drain's packets (in order); the newest arrived about now."""
        if not timestamps:
            return []
        steps: list[int] = []
        backwards = False
        previous = self._last_rtp if self.started is not None else timestamps[0]
        for timestamp in timestamps:
            step = (timestamp - previous + TS_MOD // 2) % TS_MOD - TS_MOD // 2
            backwards |= step < 0
            steps.append(step if step >= 0 else self.nominal)  # keep the order
            previous = timestamp
        relative = list(itertools.accumulate(steps))
        if self.started is None:
            self.started = wall - relative[-1] / self.clock
            base = 0
        else:
            base = self._last_position
            elapsed = round((monotonic - self._last_drain) * self.clock)
            if backwards or abs(relative[-1] - elapsed) > CLOCK_JUMP * self.clock:
                # Trust the wall clock: the newest packet lands ``elapsed`` after the last one,
                # the packets before it keep their spacing, and time never goes back.
                base += max(elapsed - relative[-1], self.nominal - relative[0])
        positions = [base + offset for offset in relative]
        self._last_rtp = timestamps[-1]
        self._last_position = positions[-1]
        self._last_drain = monotonic
        return positions

    def wall_time(self, position: int) -> datetime | None:
        if self.started is None:
            return None
        return datetime.fromtimestamp(self.started + position / self.clock, UTC)


# --- one file's writing, a step of the replay at a time ----------------------------------------


class _Recording:
    """What audio and video recordings share: the file, the timeline and the counts."""

    def __init__(
        self, path: Path, codec: Codec, clock: int, nominal: int, reorder: Reorder
    ) -> None:
        self.path = path
        self.codec: Codec = codec
        self.reorder = reorder
        self.timeline = _Timeline(clock, nominal)
        self.file: _Matroska | None = None
        self.error: str | None = None
        self.packets = 0
        self.frames = 0
        self.size: tuple[int, int] | None = None  # of the latest keyframe
        self.header_size: tuple[int, int] | None = None  # in the file's track header
        self.size_changes = 0
        self.keyframe_gaps = 0

    def _open(self, size: tuple[int, int] | None) -> _Matroska:
        self.file = _Matroska(self.path, self.codec, size)
        self.header_size = size
        return self.file

    def _failed(self, error: Exception) -> None:
        """Stop writing (a full disk, a muxer error); the file keeps what came before."""
        logger.exception("recording failed", extra={"path": str(self.path)})
        self.error = f"{type(error).__name__}: {error}"
        self._close_file()

    def _close_file(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            try:
                file.close()
            except (av.FFmpegError, OSError) as error:
                self.error = self.error or f"{type(error).__name__}: {error}"

    def close(self) -> int:
        """Finishes the file (index, duration); returns its size."""
        self._close_file()
        return os.path.getsize(self.path) if self.packets and self.path.exists() else 0


class _AudioRecording(_Recording):
    def __init__(self, path: Path, opus_types: frozenset[int]) -> None:
        super().__init__(path, "opus", OPUS_RATE, 960, Reorder())
        self.opus_types = opus_types
        self.skipped = 0  # packets of another codec, or empty

    def process(self, packets: list[bytes], monotonic: float, wall: float, final: bool) -> None:
        self.reorder.push(packets)
        payloads: list[bytes] = []
        timestamps: list[int] = []
        for _, packet in self.reorder.release(everything=final):
            header = rtp.parse_header(packet)
            if header is None or header.payload_type not in self.opus_types:
                self.skipped += 1
                continue
            payload = payload_of(packet, header)
            if not payload:
                self.skipped += 1
                continue
            payloads.append(payload)
            timestamps.append(header.timestamp)
        if payloads and self.error is None:
            positions = self.timeline.place(timestamps, monotonic, wall)
            try:
                file = self.file or self._open(None)
                for payload, position in zip(payloads, positions, strict=True):
                    duration = opus_samples(payload)
                    file.write(payload, position, True, duration)
                    self.timeline.end = position + duration
                    self.packets += 1
                    self.frames += 1
            except (av.FFmpegError, OSError) as error:
                self._failed(error)


class _VideoRecording(_Recording):
    def __init__(self, path: Path, codec: Codec, payload_types: dict[int, str]) -> None:
        """``codec`` is a guess until the first keyframe (a track may negotiate both)."""
        pipeline = FrameAssembler(keyframes_only=False, codecs=payload_types)
        super().__init__(path, codec, VIDEO_CLOCK, VIDEO_FRAME, pipeline.reorder)
        self.pipeline = pipeline
        self.waiting = True  # for a keyframe: at the start, or after loss
        self.skipped_frames = 0
        self.parameter_sets: dict[int, bytes] = {}  # H.264: the latest SPS and PPS seen

    def process(self, packets: list[bytes], monotonic: float, wall: float, final: bool) -> None:
        """Writes the step's frames."""
        chosen: list[tuple[EncodedFrame, bytes]] = []
        for frame in self.pipeline.process(packets, final):
            data = self._writable(frame)
            if data is not None:
                chosen.append((frame, data))
        if chosen and self.error is None:
            positions = self.timeline.place([f.timestamp for f, _ in chosen], monotonic, wall)
            try:
                for (frame, data), position in zip(chosen, positions, strict=True):
                    file = self.file or self._open(self.size)
                    file.write(data, position, frame.keyframe, None)
                    self.timeline.end = position
                    self.packets += frame.packets
                    self.frames += 1
            except (av.FFmpegError, OSError) as error:
                self._failed(error)

    def _writable(self, frame: EncodedFrame) -> bytes | None:
        """The frame's data if it goes into the file (after loss, only from a keyframe on)."""
        started = self.size is not None  # the file's codec and size are set
        codec: Codec = "vp8" if frame.codec == "vp8" else "h264"
        if started and codec != self.codec:  # one codec a file; a switch is a new file's work
            self.skipped_frames += 1
            return None
        if frame.after_loss and not self.waiting and not frame.keyframe:
            self.keyframe_gaps += 1
            self.waiting = True
        data = frame.data
        if frame.keyframe:
            if codec == "h264":
                data = self._with_parameter_sets(data)
            size = self._size(codec, data)
            if size is None and not started:  # a file cannot start without its size
                self.skipped_frames += 1
                return None
            if size is not None:
                if started and size != self.size:
                    self.size_changes += 1
                self.size = size
            self.codec = codec
            self.waiting = False
        elif self.waiting:
            self.skipped_frames += 1
            return None
        return data

    def _with_parameter_sets(self, data: bytes) -> bytes:
        """An IDR access unit with the SPS and PPS in front if it came without them (the file's
        first packet is where its CodecPrivate comes from)."""
        units = annexb_units(data)
        for unit in units:
            if unit[0] & 0x1F in (H264_SPS, H264_PPS):
                self.parameter_sets[unit[0] & 0x1F] = unit
        present = {unit[0] & 0x1F for unit in units}
        missing = [self.parameter_sets[t] for t in (H264_SPS, H264_PPS) if t not in present]
        if not missing or len(self.parameter_sets) < 2:
            return data
        return b"".join(START_CODE + unit for unit in missing) + data

    @staticmethod
    def _size(codec: Codec, data: bytes) -> tuple[int, int] | None:
        if codec == "vp8":
            return vp8_size(data)
        units = annexb_units(data)
        if not any(unit[0] & 0x1F == H264_PPS for unit in units):
            return None
        sps = next((unit for unit in units if unit[0] & 0x1F == H264_SPS), None)
        return h264_size(sps) if sps is not None else None


def remux(capture: Path, output: Path) -> RemuxedTrack:
    """Writes the capture's media into a Matroska file at ``output`` (see the module docstring).
    Raises ``CaptureError`` if ``capture`` is not a capture file."""
    header, chunks = read_capture(capture)
    recording = _recording_for(header, output)
    step_end: float | None = None
    arrived: list[bytes] = []
    latest = 0.0  # monotonic time of the latest arrival
    wall_offset = 0.0
    for chunk in chunks:
        wall_offset = chunk.wall_offset
        for arrival, packet in zip(chunk.arrivals, chunk.packets, strict=True):
            if step_end is None:
                step_end = arrival + REORDER_WINDOW
            while arrival >= step_end:
                now = latest if arrived else step_end
                if arrived or recording.reorder.pending:
                    recording.process(arrived, now, now + wall_offset, final=False)
                arrived = []
                # Idle (nothing held back): the next step starts with the next packet.
                pending = recording.reorder.pending
                step_end = step_end + REORDER_WINDOW if pending else arrival + REORDER_WINDOW
            arrived.append(packet)
            latest = max(latest, arrival)
    recording.process(arrived, latest, latest + wall_offset, final=True)
    file_size = recording.close()
    written = recording.packets > 0
    timeline = recording.timeline
    size = recording.header_size
    return RemuxedTrack(
        path=output,
        kind=header.kind,
        source=header.source,
        codec=recording.codec,
        user_id=header.user_id,
        track_id=header.track_id,
        started_at=timeline.wall_time(0) if written else None,
        ended_at=timeline.wall_time(timeline.end) if written else None,
        packets=recording.packets,
        frames=recording.frames,
        bytes=file_size,
        width=size[0] if size else None,
        height=size[1] if size else None,
        keyframe_gaps=recording.keyframe_gaps,
        size_changes=recording.size_changes,
        lost_packets=recording.reorder.lost,
        error=recording.error,
    )


def _recording_for(header: CaptureHeader, output: Path) -> _AudioRecording | _VideoRecording:
    if header.kind == "audio":
        opus = frozenset(pt for pt, name in header.payload_types.items() if name == "opus")
        return _AudioRecording(output, opus)
    codec: Codec = "h264" if header.codec == "h264" else "vp8"
    return _VideoRecording(output, codec, header.payload_types)
