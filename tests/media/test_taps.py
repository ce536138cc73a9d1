"""Taps on published tracks: speech segments and still pictures, taken off the forwarding path.

The first tests publish through a real aiortc participant to the live server's SFU, with a real
subscriber receiving the same track throughout. The others feed encoded RTP straight into a
``PublishedTrack`` to reach loss, reordering, DTX pauses and a full queue deterministically.
"""

from __future__ import annotations

import asyncio
import fractions
import io
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
from aiortc.codecs import CODECS, get_encoder
from aiortc.rtp import RtpPacket
from av import AudioFrame, VideoFrame
from PIL import Image

from meeting_sfu.media.taps import AudioTap, SpeechSegment, VideoSampler
from meeting_sfu.media.tracks import PublishedTrack
from tests.support.api import Api
from tests.support.media_client import PictureTrack, SpeechTrack, speech
from tests.support.published_tracks import (
    PUBLISHER_OPUS,
    PUBLISHER_VIDEO,
    PublishingMeeting,
    Upstream,
    astronaut,
    published_track,
)

pytestmark = pytest.mark.integration

FIRST = "The quick brown fox jumps over the lazy dog."
SECOND = "Captions should appear on the screen soon after each sentence."
PAUSE = 1.5  # seconds between the two sentences
PAD = 0.1  # the segmenter's padding on each side
RATE = 16_000
Floats = npt.NDArray[np.float32]


@pytest.fixture
async def meeting(api: Api) -> AsyncIterator[PublishingMeeting]:
    host = await api.user("speaker")
    created = PublishingMeeting(api, (await api.meeting(host))["id"], host)
    yield created
    for peer in created.peers:
        await peer.close()


def correlation(segment: SpeechSegment, reference: Floats) -> float:
    """Peak normalized cross-correlation of a segment's PCM with what was said."""
    pcm = np.frombuffer(segment.pcm16, dtype="<i2").astype(np.float32) / 32768
    size = len(pcm) + len(reference)
    spectrum = np.fft.rfft(pcm, size) * np.conj(np.fft.rfft(reference, size))
    peak = float(np.abs(np.fft.irfft(spectrum, size)).max())
    return peak / float(np.linalg.norm(pcm) * np.linalg.norm(reference))


async def test_audio_tap_yields_what_was_said_while_forwarding_goes_on(
    meeting: PublishingMeeting,
) -> None:
    first, second = speech(FIRST, 48_000), speech(SECOND, 48_000)
    said = np.concatenate((first, np.zeros(round(PAUSE * 48_000), np.float32), second))
    voice = SpeechTrack(said)
    host = await meeting.join(meeting.host)
    await host.publish((voice, "microphone"))
    guest = await meeting.guest()
    heard = await guest.wait_for_frames(meeting.host, "microphone", 10)
    track = await meeting.published("microphone")

    segments: list[SpeechSegment] = []
    arrived = asyncio.Event()

    async def on_segment(segment: SpeechSegment) -> None:
        segments.append(segment)
        arrived.set()

    tap = AudioTap(track, on_segment)
    tap.start()
    assert tap in track.outputs
    await asyncio.sleep(0.3)  # the tap hears silence first: no segment from it
    voice.play()
    async with asyncio.timeout(len(said) / 48_000 + 8):
        while len(segments) < 2:
            arrived.clear()
            await arrived.wait()
    during = await guest.wait_for_frames(meeting.host, "microphone", heard + 50)
    await tap.stop()
    assert tap not in track.outputs
    await guest.wait_for_frames(meeting.host, "microphone", during + 25)  # forwarding goes on

    assert len(segments) == 2 and tap.segments == 2
    assert tap.dropped_packets == 0
    spoken = (len(first) + len(second)) / 48_000
    total = sum(segment.duration for segment in segments)
    assert abs(total - (spoken + 4 * PAD)) < 0.5, (total, spoken)
    for segment, text in zip(segments, (FIRST, SECOND), strict=True):
        assert segment.user_id == meeting.host.id and segment.track_id == track.track_id
        assert correlation(segment, speech(text, RATE)) > 0.8  # ~0.95 measured
    # Wall times: when the words were played, give or take the padding and the network.
    assert voice.played_at is not None
    starts = [voice.played_at, voice.played_at + (len(first) / 48_000) + PAUSE]
    for segment, start in zip(segments, starts, strict=True):
        assert abs(segment.started_at.timestamp() + PAD - start) < 0.3  # ~0.05 measured
        assert segment.ended_at > segment.started_at
        assert segment.started_at.tzinfo is not None


@pytest.mark.parametrize(
    ("codec", "strategy"),
    [
        ("video/VP8", "keyframes"),
        ("video/H264", "keyframes"),
        ("video/VP8", "continuous"),
    ],
)
async def test_video_sampler_takes_a_picture_a_second(
    meeting: PublishingMeeting, codec: str, strategy: Literal["keyframes", "continuous"]
) -> None:
    picture = astronaut()
    host = await meeting.join(meeting.host)
    await host.publish((PictureTrack(picture), "camera"), video_codec=codec)
    guest = await meeting.guest()
    seen = await guest.wait_for_frames(meeting.host, "camera", 10)
    track = await meeting.published("camera")

    taken: list[tuple[float, uuid.UUID, bytes]] = []

    async def on_frame(user_id: uuid.UUID, jpeg: bytes) -> None:
        taken.append((time.monotonic(), user_id, jpeg))

    sampler = VideoSampler(track, on_frame, interval=1.0, strategy=strategy)
    sampler.start()
    await asyncio.sleep(4.3)
    during = await guest.wait_for_frames(meeting.host, "camera", seen + 60)
    await sampler.stop()
    assert sampler not in track.outputs
    await guest.wait_for_frames(meeting.host, "camera", during + 15)

    assert 3 <= len(taken) <= 5, [t for t, _, _ in taken]
    times = [t for t, _, _ in taken]
    assert min(np.diff(times)) > 0.8  # an interval by the publisher's clock, give or take a drain
    for _, user_id, jpeg in taken:
        assert user_id == meeting.host.id
        image = Image.open(io.BytesIO(jpeg))
        assert image.format == "JPEG" and image.size == (512, 512)
        colours = np.asarray(image.convert("RGB"), dtype=np.float32)
        assert np.abs(colours.mean(axis=(0, 1)) - picture.mean(axis=(0, 1))).max() < 6
        # Not just the right average: the picture itself (a coarse 16x16 thumbnail of it).
        coarse = colours.reshape(16, 32, 16, 32, 3).mean(axis=(1, 3))
        expected = picture.astype(np.float32).reshape(16, 32, 16, 32, 3).mean(axis=(1, 3))
        assert np.abs(coarse - expected).mean() < 6  # ~1.2 measured
    assert sampler.dropped_packets == 0


# --- straight into a PublishedTrack ------------------------------------------------------------


def opus_packets(samples: Floats, *, sequence: int, timestamp: int) -> list[bytes]:
    """``samples`` (48 kHz) as the publisher's Opus RTP packets, 20 ms each."""
    encoder = get_encoder(next(c for c in CODECS["audio"] if c.mimeType == "audio/opus"))
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    packets = []
    for start in range(0, len(pcm) - 959, 960):
        frame = AudioFrame.from_ndarray(pcm[start : start + 960].reshape(1, -1), layout="mono")
        frame.sample_rate, frame.pts = 48_000, start
        frame.time_base = fractions.Fraction(1, 48_000)
        payloads, _ = encoder.encode(frame)
        for payload in payloads:
            packet = RtpPacket(
                payload_type=PUBLISHER_OPUS,
                sequence_number=sequence % 65536,
                timestamp=(timestamp + start) % (1 << 32),
                ssrc=0x1234,
                payload=payload,
            )
            packets.append(packet.serialize())
            sequence += 1
    return packets


async def feed(
    track: PublishedTrack, packets: list[bytes], per_drain: int, pause: float = 0.06
) -> None:
    """Packets into the track's hot path, ``per_drain`` every ``pause`` seconds (faster than
    real time: the timeline comes from RTP timestamps, not from arrival)."""
    for start in range(0, len(packets), per_drain):
        for packet in packets[start : start + per_drain]:
            await track.on_rtp(packet, 0)
        await asyncio.sleep(pause)


async def test_gaps_loss_reordering_and_duplicates_keep_speech_in_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = speech(FIRST, 48_000), speech(SECOND, 48_000)
    lead = np.zeros(24_000, np.float32)
    start = 2**32 - 30_000  # timestamps and sequence numbers wrap around in the middle
    before = opus_packets(np.concatenate((lead, first, lead)), sequence=65_500, timestamp=start)
    # A DTX pause: 1.5 s in which the publisher sends nothing, then the next sentence.
    after_ts = start + (len(before) * 960) + 72_000
    after = opus_packets(
        np.concatenate((second, lead, lead)), sequence=65_500 + len(before), timestamp=after_ts
    )
    shuffle = random.Random(3)
    packets = []
    lost = 0
    for packet in before + after:
        if shuffle.random() < 0.03:
            lost += 1  # lost on the way
            continue
        packets.append(packet)
        if shuffle.random() < 0.03:
            packets.append(packet)  # a duplicate
    for index in range(0, len(packets) - 1, 7):  # neighbours swapped: reordered on the way
        packets[index], packets[index + 1] = packets[index + 1], packets[index]
    # (fed 14 at a time, so that a swapped pair arrives within one drain, as it would live)

    segments: list[SpeechSegment] = []

    async def on_segment(segment: SpeechSegment) -> None:
        segments.append(segment)
        if len(segments) == 1:
            raise RuntimeError("a transcriber that fails once")

    track = published_track("audio", "audio/opus", Upstream())
    tap = AudioTap(track, on_segment)
    tap.start()
    with caplog.at_level(logging.ERROR, logger="meeting_sfu.media.taps"):
        await feed(track, packets, per_drain=14)
        await tap.stop()

    assert len(segments) == 2  # the failing callback was logged; the tap went on
    assert "a tap callback failed" in caplog.text
    assert tap.lost_packets == lost and tap.dropped_packets == 0
    # The second sentence starts where the stream's timeline puts it, the pause included.
    offset = (segments[1].started_at - segments[0].started_at).total_seconds()
    expected = (len(before) * 960 + 72_000 - len(lead)) / 48_000
    assert abs(offset - expected) < 0.25, (offset, expected)
    for segment, text in zip(segments, (FIRST, SECOND), strict=True):
        assert correlation(segment, speech(text, RATE)) > 0.8


async def test_a_long_pause_is_capped_and_later_speech_timed_by_its_arrival() -> None:
    """A sender that pauses for a minute (by its RTP clock) does not make a minute of silence
    to decode; what it says next is timed by when it arrives. Fed in real time."""
    hello, morning = speech("Hello there.", 48_000), speech("Good morning.", 48_000)
    lead = np.zeros(24_000, np.float32)
    before = opus_packets(np.concatenate((lead, hello, lead)), sequence=1, timestamp=0)
    after = opus_packets(
        np.concatenate((morning, lead, lead)),
        sequence=1 + len(before),
        timestamp=len(before) * 960 + 60 * 48_000,
    )
    segments: list[SpeechSegment] = []

    async def on_segment(segment: SpeechSegment) -> None:
        segments.append(segment)

    track = published_track("audio", "audio/opus", Upstream())
    tap = AudioTap(track, on_segment)
    tap.start()
    first_said = time.time() + len(lead) / 48_000
    await feed(track, before, per_drain=5, pause=0.1)  # 100 ms of audio every 100 ms
    await asyncio.sleep(1.0)
    second_said = time.time()
    await feed(track, after, per_drain=5, pause=0.1)
    await tap.stop()

    assert len(segments) == 2
    for segment, said in zip(segments, (first_said, second_said), strict=True):
        assert abs(segment.started_at.timestamp() + PAD - said) < 0.3
    assert segments[1].duration < 3  # no minute of silence in it


async def test_a_full_queue_drops_the_oldest_packets_and_counts_them() -> None:
    packets = opus_packets(np.zeros(48_000 * 3, np.float32), sequence=1, timestamp=0)
    track = published_track("audio", "audio/opus", Upstream())
    tap = AudioTap(track, lambda segment: asyncio.sleep(0), max_queue=100)
    tap.start()
    for packet in packets:  # no await that yields: the drain task cannot run in between
        await track.on_rtp(packet, 0)
    assert tap.dropped_packets == len(packets) - 100
    await tap.stop()
    assert tap.segments == 0 and not track.outputs


def video_packets(codec: str, frames: int, keyframe_every: int | None) -> list[bytes]:
    """The publisher's RTP for ``frames`` frames of a slow pan over a picture."""
    encoder = get_encoder(next(c for c in CODECS["video"] if c.mimeType == codec))
    picture = astronaut()[:480, :, :]
    packets: list[bytes] = []
    for number in range(frames):
        frame = VideoFrame.from_ndarray(np.roll(picture, 4 * number, axis=1), format="rgb24")
        frame.pts, frame.time_base = number * 3000, fractions.Fraction(1, 90_000)
        force = keyframe_every is not None and number % keyframe_every == 0
        payloads, timestamp = encoder.encode(frame, force_keyframe=force)
        for index, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=PUBLISHER_VIDEO,
                marker=int(index == len(payloads) - 1),
                sequence_number=(60_000 + len(packets)) % 65536,
                timestamp=timestamp,
                ssrc=0x1234,
                payload=payload,
            )
            packets.append(packet.serialize())
    return packets


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_keyframes_only_decodes_just_the_keyframes_and_asks_for_them(codec: str) -> None:
    packets = video_packets(codec, frames=90, keyframe_every=30)
    upstream = Upstream()
    track = published_track("video", codec, upstream)
    taken: list[bytes] = []

    async def on_frame(user_id: uuid.UUID, jpeg: bytes) -> None:
        taken.append(jpeg)

    sampler = VideoSampler(track, on_frame, interval=0.2)
    sampler.start()
    await feed(track, packets, per_drain=len(packets) // 12, pause=0.12)
    await sampler.stop()

    assert len(taken) == 3  # one picture per keyframe
    assert sampler.decoded_frames == 3  # the 87 frames between them were skimmed
    assert upstream.keyframe_requests >= 2  # it asks for them (the track allows 2 a second)
    assert {Image.open(io.BytesIO(jpeg)).size for jpeg in taken} == {(512, 480)}


async def test_continuous_decoding_waits_for_a_keyframe_after_loss() -> None:
    packets = video_packets("video/VP8", frames=60, keyframe_every=None)
    upstream = Upstream()
    track = published_track("video", "video/VP8", upstream)
    sampler = VideoSampler(track, lambda user, jpeg: asyncio.sleep(0), strategy="continuous")
    sampler.start()
    await feed(track, packets[: len(packets) // 2], per_drain=10)
    await asyncio.sleep(0.3)  # the last drains decode in a worker thread
    decoded = sampler.decoded_frames
    requests = upstream.keyframe_requests
    assert decoded >= 25
    await feed(track, packets[len(packets) // 2 + 3 :], per_drain=10)  # three packets lost
    await sampler.stop()
    assert sampler.decoded_frames == decoded  # nothing smeared is decoded
    assert upstream.keyframe_requests > requests
    assert sampler.frames >= 1
