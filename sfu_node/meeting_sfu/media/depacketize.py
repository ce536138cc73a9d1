"""Depacketizing: RTP packets of a published track back into what their codec sent, for
whatever reads a track after the forwarding path (the live taps in ``media.taps``, the remuxer
of recordings in ``recording.remux``).

Packets are put back in sequence order (``Reorder``: a missing one is waited for one step, then
given up on); VP8 (RFC 7741 payload descriptor) and H.264 (RFC 6184 single NAL units, STAP-A,
FU-A) are reassembled into complete frames (``FrameAssembler``), noting keyframes and loss.
Nothing here decodes or writes a file.
"""

from __future__ import annotations

from typing import NamedTuple

from aiortc.codecs import CODECS

from meeting_sfu.media import rtp
from meeting_shared.enums import TrackKind

OPUS_RATE = 48_000  # the RTP clock of Opus, whatever the sampling rate it encodes (RFC 7587)
VIDEO_CLOCK = 90_000  # the RTP clock of video
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
START_CODE = b"\x00\x00\x00\x01"


def payload_types(kind: TrackKind) -> dict[int, str]:
    """Subscriber-side payload type -> codec name: forwarded packets carry aiortc's table."""
    return {
        c.payloadType: c.mimeType.split("/")[1].lower()
        for c in CODECS[kind]
        if c.payloadType is not None
    }


def payload_of(packet: bytes, header: rtp.Header) -> bytes:
    """The RTP payload of a packet (after the header and its extensions, before padding)."""
    return packet[header.payload_offset : header.payload_offset + rtp.payload_size(packet, header)]


class Reorder:
    """Puts packets back in sequence order. A packet after a gap waits until the next drain for
    the missing ones, then the gap is given up on; packets behind what was released (late or
    duplicates) are dropped."""

    def __init__(self) -> None:
        self._pending: dict[int, tuple[bytes, int]] = {}  # extended sequence -> packet, drain
        self._highest = -1  # extended sequence numbers: 16-bit ones plus wrap-arounds
        self._next: int | None = None
        self._drain = 0
        self.lost = 0
        self.discarded = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def push(self, packets: list[bytes]) -> None:
        self._drain += 1
        for packet in packets:
            sequence = rtp.sequence_of(packet)
            if self._highest < 0:
                extended = SEQ_MOD + sequence  # room below for packets older than the first
            else:
                delta = (sequence - self._highest + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2
                extended = self._highest + delta
            if (self._next is not None and extended < self._next) or extended in self._pending:
                self.discarded += 1
                continue
            self._highest = max(self._highest, extended)
            self._pending[extended] = (packet, self._drain)

    def release(self, everything: bool = False) -> list[tuple[int, bytes]]:
        """Packets in order, with their extended sequence numbers."""
        released: list[tuple[int, bytes]] = []
        for extended in sorted(self._pending):
            packet, drain = self._pending[extended]
            if self._next is not None and extended != self._next:
                if drain == self._drain and not everything:
                    break  # give the missing packets one more drain
                self.lost += extended - self._next
            del self._pending[extended]
            released.append((extended, packet))
            self._next = extended + 1
        return released


def vp8_frame_start(payload: bytes) -> tuple[bytes, bool, bool] | None:
    """The VP8 data of an RTP payload (RFC 7741 section 4.2), whether it starts a frame, and
    whether that frame is a keyframe; None if the descriptor is cut short."""
    if not payload:
        return None
    first = payload[0]
    offset = 1
    if first & 0x80:  # X: an extension byte follows
        if len(payload) < 2:
            return None
        extension = payload[1]
        offset = 2
        if extension & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= offset:
                return None
            offset += 2 if payload[offset] & 0x80 else 1
        if extension & 0x40:  # L: TL0PICIDX
            offset += 1
        if extension & 0x30:  # T or K: TID/KEYIDX byte
            offset += 1
    if offset > len(payload):
        return None
    data = payload[offset:]
    starts = bool(first & 0x10) and first & 0x07 == 0  # S bit, partition 0
    keyframe = starts and bool(data) and data[0] & 0x01 == 0  # P bit of the frame header
    return data, starts, keyframe


H264_IDR = 5
H264_STAP_A = 24
H264_FU_A = 28
# NAL unit types an access unit may start with when it is a keyframe: SEI, SPS, PPS, AUD.
H264_KEY_LEADERS = frozenset((H264_IDR, 6, 7, 8, 9))


def h264_units(payload: bytes) -> tuple[bytes, tuple[int, ...]] | None:
    """Annex B bytes of an RTP payload (RFC 6184: single NAL unit, STAP-A, FU-A in
    packetization mode 1) and the types of the NAL units it starts; None for what cannot be
    used."""
    if not payload:
        return None
    nal_type = payload[0] & 0x1F
    if 1 <= nal_type <= 23:
        return START_CODE + payload, (nal_type,)
    if nal_type == H264_STAP_A:
        parts: list[bytes] = []
        types: list[int] = []
        position = 1
        while position + 2 <= len(payload):
            size = int.from_bytes(payload[position : position + 2], "big")
            position += 2
            unit = payload[position : position + size]
            if len(unit) < size or not unit:
                return None
            parts += (START_CODE, unit)
            types.append(unit[0] & 0x1F)
            position += size
        return b"".join(parts), tuple(types)
    if nal_type == H264_FU_A:
        if len(payload) < 2:
            return None
        fu_header = payload[1]
        if fu_header & 0x80:  # the first fragment: rebuild the NAL unit header
            unit_type = fu_header & 0x1F
            header = bytes(((payload[0] & 0xE0) | unit_type,))
            return START_CODE + header + payload[2:], (unit_type,)
        return payload[2:], ()
    return None  # STAP-B, MTAP, FU-B: not in packetization mode 1


def annexb_units(access_unit: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit, as ``h264_units`` writes them (4-byte start
    codes; emulation prevention guarantees no start code inside a unit)."""
    return [unit for unit in access_unit.split(START_CODE) if unit]


class EncodedFrame(NamedTuple):
    """A complete frame, as the decoder takes it."""

    keyframe: bool
    data: bytes
    codec: str  # "vp8" or "h264"
    timestamp: int  # RTP, 90 kHz
    packets: int = 1  # the RTP packets it came in
    after_loss: bool = False  # packets were lost since the frame before it: references broke


class _Frame:
    """A frame being put together from its packets."""

    __slots__ = ("broken", "keyframe", "maybe_keyframe", "parts", "timestamp")

    def __init__(self, timestamp: int, keyframe: bool, maybe_keyframe: bool, broken: bool) -> None:
        self.timestamp = timestamp
        self.keyframe = keyframe
        self.maybe_keyframe = maybe_keyframe  # H.264: an IDR slice may follow what came first
        self.broken = broken
        self.parts: list[bytes] = []


class FrameAssembler:
    """Depacketizes a video track into complete frames: every frame (``keyframes_only=False``)
    or keyframes only, skimming the packets of the rest. ``codecs`` maps payload types to codec
    names (by default aiortc's table, which forwarded packets carry)."""

    def __init__(self, keyframes_only: bool, codecs: dict[int, str] | None = None) -> None:
        self.keyframes_only = keyframes_only
        self.codecs = codecs if codecs is not None else payload_types("video")
        self.reorder = Reorder()
        self.frame: _Frame | None = None
        self.last_sequence: int | None = None
        self.frames_seen = 0
        self.lost = False  # packets lost since the last complete frame (for after_loss)

    def process(self, packets: list[bytes], final: bool) -> list[EncodedFrame]:
        """Complete frames worth decoding."""
        self.reorder.push(packets)
        frames: list[EncodedFrame] = []
        for sequence, packet in self.reorder.release(everything=final):
            header = rtp.parse_header(packet)
            codec = self.codecs.get(header.payload_type) if header is not None else None
            if header is None or codec not in ("vp8", "h264"):
                continue
            # The very first packet has nothing before it to miss.
            contiguous = self.last_sequence is None or sequence == self.last_sequence + 1
            self.last_sequence = sequence
            self.lost |= not contiguous
            frame = self.frame
            if frame is None or frame.timestamp != header.timestamp:
                frame = self.frame = self._begin(header, packet, codec, contiguous)
                self.frames_seen += 1
                self.lost |= frame.broken  # its data will be missing from what follows
            elif not contiguous:
                frame.broken = True
            if frame.broken or (self.keyframes_only and not frame.maybe_keyframe):
                continue  # skimmed: nobody will decode it
            unit = self._unit(codec, payload_of(packet, header), frame)
            if unit is None:
                frame.broken = self.lost = True
                continue
            frame.parts.append(unit)
            if header.marker:
                self.frame = None
                data = b"".join(frame.parts)
                frames.append(
                    EncodedFrame(
                        frame.keyframe, data, codec, frame.timestamp, len(frame.parts), self.lost
                    )
                )
                self.lost = False
        return frames

    def _begin(self, header: rtp.Header, packet: bytes, codec: str, contiguous: bool) -> _Frame:
        payload = payload_of(packet, header)
        if codec == "vp8":
            # A VP8 frame says where it starts: a gap before it only hurt the previous one.
            parsed = vp8_frame_start(payload)
            keyframe = parsed is not None and parsed[2]
            return _Frame(header.timestamp, keyframe, keyframe, parsed is None or not parsed[1])
        # An H.264 frame does not: after a gap its first packets may be missing, and the first
        # packet seen may be the middle of one unless it starts what only begins a frame.
        units = h264_units(payload)
        types = units[1] if units is not None else ()
        keyframe = H264_IDR in types
        maybe = bool(H264_KEY_LEADERS.intersection(types))
        broken = units is None or not contiguous or (self.frames_seen == 0 and not maybe)
        return _Frame(header.timestamp, keyframe, maybe, broken)

    @staticmethod
    def _unit(codec: str, payload: bytes, frame: _Frame) -> bytes | None:
        if codec == "vp8":
            parsed = vp8_frame_start(payload)
            return parsed[0] if parsed is not None else None
        units = h264_units(payload)
        if units is None:
            return None
        if H264_IDR in units[1]:
            frame.keyframe = True
        return units[0]
