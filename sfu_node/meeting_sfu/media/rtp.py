"""What the forwarder needs to know about an RTP packet, read straight from its bytes.

The forwarding path never builds packet objects: it reads the few header fields it needs and
rewrites the first two bytes (RFC 3550 section 5.1). Everything here is plain byte arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

RTP_HEADER = 12
ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 one-byte header extensions
SEQ_MOD = 1 << 16


@dataclass(slots=True)
class Header:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload_offset: int  # first byte after the CSRC list and header extensions
    extension_offset: int  # where the extension block starts, or -1
    padding: bool


def parse_header(data: bytes) -> Header | None:
    """The fixed header and where the payload starts; None for anything that is not RTP v2."""
    size = len(data)
    if size < RTP_HEADER or data[0] >> 6 != 2:
        return None
    first = data[0]
    offset = RTP_HEADER + 4 * (first & 0x0F)
    extension_offset = -1
    if first & 0x10:
        if size < offset + 4:
            return None
        extension_offset = offset
        offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
    if offset > size:
        return None
    return Header(
        payload_type=data[1] & 0x7F,
        marker=bool(data[1] & 0x80),
        sequence=(data[2] << 8) | data[3],
        timestamp=int.from_bytes(data[4:8], "big"),
        ssrc=int.from_bytes(data[8:12], "big"),
        payload_offset=offset,
        extension_offset=extension_offset,
        padding=bool(first & 0x20),
    )


def payload_size(data: bytes, header: Header) -> int:
    """Payload bytes without padding (a padding-only packet has none)."""
    size = len(data) - header.payload_offset
    if header.padding and size > 0:
        size -= data[-1]
    return max(size, 0)


def one_byte_extension(data: bytes, header: Header, wanted_id: int) -> bytes | None:
    """The value of one-byte header extension ``wanted_id`` (RFC 8285), if the packet has it."""
    start = header.extension_offset
    if start < 0 or (data[start] << 8 | data[start + 1]) != ONE_BYTE_PROFILE:
        return None
    position = start + 4
    end = header.payload_offset
    while position < end:
        byte = data[position]
        if byte == 0:  # padding between elements
            position += 1
            continue
        element_id, length = byte >> 4, (byte & 0x0F) + 1
        if element_id == 15:
            return None
        if element_id == wanted_id:
            return data[position + 1 : position + 1 + length]
        position += 1 + length
    return None


def audio_level(data: bytes, header: Header, extension_id: int) -> int | None:
    """RFC 6464 audio level in -dBov (0 is loudest, 127 silence), or None when absent."""
    value = one_byte_extension(data, header, extension_id)
    if not value:
        return None
    return value[0] & 0x7F


def forwardable(data: bytes, header: Header, payload_type: int) -> bytes:
    """The packet as subscribers get it: the same SSRC, sequence and timestamp, the
    subscribers' payload type, and no header extensions or CSRCs (the publisher negotiated
    extension ids with us, not with them)."""
    first = 0x80 | (data[0] & 0x20)  # version 2, keep the padding bit
    second = (data[1] & 0x80) | payload_type
    return bytes((first, second)) + data[2:12] + data[header.payload_offset :]


def unwrap_rtx(data: bytes, header: Header, media_ssrc: int, payload_type: int) -> bytes | None:
    """A retransmission (RFC 4588) turned back into the original packet, ready to forward.

    None for padding-only probes, which carry nothing to forward."""
    if payload_size(data, header) < 2:
        return None
    offset = header.payload_offset
    original_sequence = data[offset : offset + 2]
    first = 0x80 | (data[0] & 0x20)
    second = (data[1] & 0x80) | payload_type
    return (
        bytes((first, second))
        + original_sequence
        + data[4:8]
        + media_ssrc.to_bytes(4, "big")
        + data[offset + 2 :]
    )


def sequence_of(packet: bytes) -> int:
    return (packet[2] << 8) | packet[3]


class ReceptionStats:
    """RFC 3550 reception statistics for one incoming stream: what receiver reports carry."""

    __slots__ = (
        "_base",
        "_cycles",
        "_expected_prior",
        "_max",
        "_received_prior",
        "_transit",
        "clock_rate",
        "jitter_q4",
        "received",
    )

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.received = 0
        self._base = -1
        self._max = 0
        self._cycles = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._transit = 0
        self.jitter_q4 = 0  # jitter in timestamp units, times 16 (RFC 3550 A.8)

    def add(self, sequence: int, timestamp: int, arrival_ms: int) -> None:
        if self._base < 0:
            self._base = self._max = sequence
        else:
            delta = (sequence - self._max) % SEQ_MOD
            if 0 < delta < 0x8000:
                if sequence < self._max:
                    self._cycles += SEQ_MOD
                self._max = sequence
        self.received += 1
        transit = (arrival_ms * self.clock_rate // 1000 - timestamp) & 0xFFFFFFFF
        if self.received > 1:
            difference = abs(transit - self._transit)
            if difference < 0x80000000:
                self.jitter_q4 += difference - ((self.jitter_q4 + 8) >> 4)
        self._transit = transit

    @property
    def highest_sequence(self) -> int:
        """Extended highest sequence number received (cycles in the upper 16 bits)."""
        return self._cycles + self._max

    @property
    def expected(self) -> int:
        return 0 if self._base < 0 else self.highest_sequence - self._base + 1

    @property
    def lost(self) -> int:
        return max(self.expected - self.received, 0)

    @property
    def jitter(self) -> int:
        return self.jitter_q4 >> 4

    def fraction_lost(self) -> int:
        """Loss since the previous call, as the 8-bit fraction of RFC 3550 (and resets it)."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return min((lost_interval << 8) // expected_interval, 255)
