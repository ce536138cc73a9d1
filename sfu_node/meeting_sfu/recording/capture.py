"""The capture file: a published track's RTP packets as the media node received them, each with
its arrival time, so that recording costs the node next to nothing (recording.recorder writes
it) and everything else (reordering, depacketizing, muxing) happens later, elsewhere
(recording.remux).

Layout (little-endian): ``MAGIC``, a 4-byte length and that many bytes of JSON (``CaptureHeader``),
then chunks, one per write:

    count: u32, wall_offset: f64      (time.time() - time.monotonic() when the chunk was written)
    arrivals: count x f64             (time.monotonic() of each packet's arrival)
    lengths: count x u16
    packets: the packets, back to back

The file is only ever appended to, one chunk per ``os.writev``: a process killed mid-write
leaves at most a cut chunk at the end, which ``read_capture`` leaves out.
"""

from __future__ import annotations

import json
import struct
import sys
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meeting_shared.enums import TrackKind, TrackSource

MAGIC = b"MEETRTP1"
CHUNK = struct.Struct("<Id")
HEADER_LENGTH = struct.Struct("<I")
MAX_HEADER = 64 * 1024
BIG_ENDIAN = sys.byteorder == "big"  # arrays are in the machine's order; the file's is little


class CaptureError(ValueError):
    """Not a capture file, or one whose header cannot be read."""


@dataclass(frozen=True)
class CaptureHeader:
    track_id: str
    user_id: uuid.UUID
    kind: TrackKind
    source: TrackSource
    codec: str  # what the track forwards ("opus", "vp8" or "h264"; video may switch)
    payload_types: dict[int, str]  # RTP payload type -> codec name, as the packets carry them

    def encode(self) -> bytes:
        body = json.dumps(
            {
                "track_id": self.track_id,
                "user_id": str(self.user_id),
                "kind": self.kind,
                "source": self.source,
                "codec": self.codec,
                "payload_types": {str(pt): name for pt, name in self.payload_types.items()},
            }
        ).encode()
        return MAGIC + HEADER_LENGTH.pack(len(body)) + body

    @classmethod
    def decode(cls, body: bytes) -> CaptureHeader:
        try:
            fields = json.loads(body)
            return cls(
                track_id=str(fields["track_id"]),
                user_id=uuid.UUID(fields["user_id"]),
                kind=fields["kind"],
                source=fields["source"],
                codec=str(fields["codec"]),
                payload_types={int(pt): str(n) for pt, n in fields["payload_types"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CaptureError(f"unreadable capture header: {error}") from error


def encode_chunk(arrivals: array[float], packets: list[bytes], wall_offset: float) -> list[bytes]:
    """The buffers of one chunk, for ``os.writev`` (the packets are not copied)."""
    lengths = array("H", map(len, packets))
    if BIG_ENDIAN:
        arrivals, lengths = _swapped(arrivals), _swapped(lengths)
    return [CHUNK.pack(len(packets), wall_offset), arrivals.tobytes(), lengths.tobytes(), *packets]


@dataclass(frozen=True)
class Chunk:
    wall_offset: float
    arrivals: list[float]  # monotonic seconds
    packets: list[bytes]


def read_capture(path: Path) -> tuple[CaptureHeader, Iterator[Chunk]]:
    """The header, and the chunks in the order they were written (a cut last one left out).
    Raises ``CaptureError`` if the file is not a capture."""
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + HEADER_LENGTH.size:
        raise CaptureError(f"{path.name} is not a capture file")
    (length,) = HEADER_LENGTH.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + HEADER_LENGTH.size
    if length > MAX_HEADER or start + length > len(data):
        raise CaptureError(f"{path.name}: capture header cut short")
    header = CaptureHeader.decode(data[start : start + length])
    return header, _chunks(data, start + length)


def _chunks(data: bytes, offset: int) -> Iterator[Chunk]:
    view = memoryview(data)
    while offset + CHUNK.size <= len(data):
        count, wall_offset = CHUNK.unpack_from(data, offset)
        offset += CHUNK.size
        arrivals_end = offset + 8 * count
        lengths_end = arrivals_end + 2 * count
        if lengths_end > len(data):
            return
        arrivals = array("d")
        arrivals.frombytes(view[offset:arrivals_end])
        lengths = array("H")
        lengths.frombytes(view[arrivals_end:lengths_end])
        if BIG_ENDIAN:
            arrivals, lengths = _swapped(arrivals), _swapped(lengths)
        offset = lengths_end
        if offset + sum(lengths) > len(data):
            return  # the process stopped in the middle of this chunk
        packets: list[bytes] = []
        for length in lengths:
            packets.append(data[offset : offset + length])
            offset += length
        if packets:
            yield Chunk(wall_offset, arrivals.tolist(), packets)


def _swapped(values: array[Any]) -> array[Any]:
    copy = array(values.typecode, values)
    copy.byteswap()
    return copy
