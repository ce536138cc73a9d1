"""RTP byte handling, reception statistics, the active speaker and TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid

import pytest

from meeting_sfu.ice import turn_credential
from meeting_sfu.media import rtp
from meeting_sfu.media.speaker import ActiveSpeaker

pytestmark = pytest.mark.unit


def packet(
    *, seq: int = 1, ts: int = 1000, ssrc: int = 0x11223344, pt: int = 111, marker: bool = False,
    extensions: list[tuple[int, bytes]] | None = None, payload: bytes = b"payload",
    padding: int = 0,
) -> bytes:  # fmt: skip
    first = 0x80 | (0x10 if extensions else 0) | (0x20 if padding else 0)
    header = struct.pack("!BBHII", first, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    if extensions:
        body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in extensions)
        body += b"\0" * (-len(body) % 4)
        header += struct.pack("!HH", rtp.ONE_BYTE_PROFILE, len(body) // 4) + body
    tail = b"\0" * (padding - 1) + bytes([padding]) if padding else b""
    return header + payload + tail


def test_header_fields_and_payload_offset() -> None:
    data = packet(seq=65535, ts=7, marker=True, extensions=[(1, b"\x05"), (3, b"abc")])
    header = rtp.parse_header(data)
    assert header is not None
    assert (header.sequence, header.timestamp, header.ssrc) == (65535, 7, 0x11223344)
    assert header.marker and header.payload_type == 111
    assert data[header.payload_offset :] == b"payload"


def test_not_rtp_is_refused() -> None:
    assert rtp.parse_header(b"\x00" * 20) is None  # version 0
    assert rtp.parse_header(b"\x80\x60") is None  # too short
    broken = bytearray(packet(extensions=[(1, b"\x05")]))
    broken[15] = 200  # extension length beyond the packet
    assert rtp.parse_header(bytes(broken)) is None


def test_audio_level_from_the_header_extension() -> None:
    data = packet(extensions=[(3, b"\x01\x02"), (1, b"\x80" + b"")])  # V bit set, level 0
    header = rtp.parse_header(data)
    assert header is not None
    assert rtp.audio_level(data, header, 1) == 0
    quiet = packet(extensions=[(1, bytes([0x80 | 90]))])
    quiet_header = rtp.parse_header(quiet)
    assert quiet_header is not None and rtp.audio_level(quiet, quiet_header, 1) == 90
    assert rtp.audio_level(quiet, quiet_header, 2) is None


def test_forwardable_keeps_ids_and_drops_extensions() -> None:
    data = packet(seq=42, ts=99, marker=True, pt=96, extensions=[(1, b"\x05")], padding=4)
    header = rtp.parse_header(data)
    assert header is not None
    out = rtp.forwardable(data, header, 97)
    out_header = rtp.parse_header(out)
    assert out_header is not None
    assert out_header.payload_type == 97 and out_header.marker and out_header.padding
    assert (out_header.sequence, out_header.timestamp, out_header.ssrc) == (42, 99, 0x11223344)
    assert out_header.extension_offset == -1 and out_header.payload_offset == 12
    assert rtp.payload_size(out, out_header) == len(b"payload")


def test_rtx_is_unwrapped_and_padding_probes_dropped() -> None:
    rtx = packet(seq=5, ssrc=0xAAAA, pt=97, payload=struct.pack("!H", 1234) + b"media")
    header = rtp.parse_header(rtx)
    assert header is not None
    original = rtp.unwrap_rtx(rtx, header, 0xBBBB, 96)
    assert original is not None
    restored = rtp.parse_header(original)
    assert restored is not None
    assert (restored.sequence, restored.ssrc, restored.payload_type) == (1234, 0xBBBB, 96)
    assert original[12:] == b"media"
    probe = packet(ssrc=0xAAAA, pt=97, payload=b"", padding=200)
    probe_header = rtp.parse_header(probe)
    assert probe_header is not None and rtp.unwrap_rtx(probe, probe_header, 0xBBBB, 96) is None


def test_reception_stats_count_loss_across_wraparound() -> None:
    stats = rtp.ReceptionStats(90000)
    for seq in (65530, 65531, 65533, 65534, 0, 1, 3):  # 65532, 65535 and 2 never come
        stats.add(seq, 0, 0)
    assert stats.received == 7 and stats.expected == 10 and stats.lost == 3
    assert stats.highest_sequence == 65536 + 3
    assert stats.fraction_lost() == (3 << 8) // 10
    stats.add(4, 0, 0)
    assert stats.fraction_lost() == 0  # nothing lost since the last report
    stats.add(2, 0, 0)  # a late packet is not a new maximum
    assert stats.highest_sequence == 65536 + 4


def test_active_speaker_needs_to_stay_loudest() -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    speaker = ActiveSpeaker(hold=2)
    assert speaker.tick() == (False, None)  # silence names nobody
    speaker.add(alice, 30)
    speaker.add(bob, 127)  # silent packets do not count
    assert speaker.tick() == (True, alice)
    speaker.add(bob, 10)
    speaker.add(alice, 40)
    assert speaker.tick() == (False, alice)  # one loud window is not enough
    speaker.add(bob, 10)
    assert speaker.tick() == (True, bob)
    assert speaker.tick() == (False, bob)  # silence keeps the last speaker
    speaker.forget(bob)
    assert speaker.current is None


def test_turn_credentials_follow_the_turn_rest_api() -> None:
    user = uuid.uuid4()
    username, credential = turn_credential("s3cret", user, 1_900_000_000)
    assert username == f"1900000000:{user}"
    expected = hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(credential) == expected
