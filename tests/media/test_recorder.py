"""Recording published tracks: the media node captures the packets it forwards (recording.recorder)
and the remuxer turns a capture into a Matroska file (recording.remux).

The first tests record what real aiortc participants publish to the live server's SFU, with a
subscriber receiving the same tracks throughout; files are checked with ffprobe and decoded
with PyAV. The others feed encoded RTP straight into a ``PublishedTrack`` to reach loss,
resolution changes, pauses and clock jumps deterministically.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
from aiortc.codecs import CODECS, get_encoder
from aiortc.rtp import RtpPacket
from av import AudioFrame, VideoFrame

from meeting_sfu.media.depacketize import annexb_units, h264_units
from meeting_sfu.media.tracks import PublishedTrack
from meeting_sfu.recording.capture import CaptureError
from meeting_sfu.recording.recorder import CapturedTrack, TrackRecorder, read_captured
from meeting_sfu.recording.remux import RemuxedTrack, h264_size, remux
from tests.support.api import Api
from tests.support.media_client import PatternTrack, PictureTrack, SpeechTrack
from tests.support.published_tracks import (
    PUBLISHER_OPUS,
    PUBLISHER_VIDEO,
    PublishingMeeting,
    Upstream,
    astronaut,
    published_track,
)

pytestmark = pytest.mark.integration

Floats = npt.NDArray[np.float32]


@pytest.fixture
async def meeting(api: Api) -> AsyncIterator[PublishingMeeting]:
    host = await api.user("recorded")
    created = PublishingMeeting(api, (await api.meeting(host))["id"], host)
    yield created
    for peer in created.peers:
        await peer.close()


async def probe(path: Path) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "ffprobe",
        "-v",
        "error",
        "-show_streams",
        "-show_format",
        "-of",
        "json",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    probed: dict[str, Any] = json.loads(out)
    return probed


def video_frames(path: Path) -> list[VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def audio_samples(path: Path) -> tuple[Floats, list[float]]:
    """Decoded mono samples at 48 kHz, each where its timestamp puts it (gaps are silence),
    and each decoded frame's time in seconds."""
    chunks: list[tuple[int, Floats]] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            start = round(float(frame.time or 0.0) * 48_000)
            chunks.append((start, frame.to_ndarray().astype(np.float32).mean(axis=0)))
    samples = np.zeros(max(start + len(chunk) for start, chunk in chunks), np.float32)
    for start, chunk in chunks:
        samples[start : start + len(chunk)] = chunk
    return samples, [start / 48_000 for start, _ in chunks]


def tone_track(seconds: float) -> SpeechTrack:
    """A 440 Hz tone once ``play()`` is called (media_client's ToneTrack sends 160 samples
    each 20 ms as 48 kHz audio: its RTP clock runs at a sixth of real time)."""
    t = np.arange(round(seconds * 48_000)) / 48_000
    return SpeechTrack((0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))


def dominant_frequency(samples: Floats, rate: int = 48_000) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(spectrum.argmax())])


async def stop_and_remux(recorder: TrackRecorder) -> RemuxedTrack:
    """Stop the recorder and remux its capture beside it (as the mixing worker does)."""
    captured = await recorder.stop()
    assert captured.error is None
    return await remuxed(captured.path)


async def remuxed(capture: Path) -> RemuxedTrack:
    return await asyncio.to_thread(remux, capture, capture.with_suffix(".mkv"))


def assert_recorded(
    recorded: RemuxedTrack, track: PublishedTrack, path: Path, codec: str, seconds: float
) -> None:
    assert recorded.path == path and recorded.codec == codec
    assert recorded.kind == track.kind and recorded.source == track.source
    assert recorded.user_id == track.user_id and recorded.track_id == track.track_id
    assert recorded.started_at is not None and recorded.started_at.tzinfo is not None
    assert abs(recorded.duration - seconds) < 0.5, recorded
    assert recorded.packets > 0 and recorded.frames > 0
    assert recorded.bytes == path.stat().st_size > 0
    assert recorded.keyframe_gaps == 0 and recorded.error is None


async def test_records_camera_and_microphone_while_forwarding_goes_on(
    meeting: PublishingMeeting, tmp_path: Path
) -> None:
    host = await meeting.join(meeting.host)
    voice = tone_track(60)
    await host.publish((voice, "microphone"), (PatternTrack(), "camera"))
    guest = await meeting.guest()
    seen = await guest.wait_for_frames(meeting.host, "camera", 10)
    camera, microphone = await meeting.published("camera"), await meeting.published("microphone")

    video = TrackRecorder(camera, tmp_path / "camera.rtp")
    audio = TrackRecorder(microphone, tmp_path / "microphone.rtp")
    voice.play()
    began = time.time()
    video.start()
    audio.start()
    assert video in camera.outputs and audio in microphone.outputs
    await asyncio.sleep(2.5)
    # What a crash would leave: a copy taken while the files are being written.
    for name in ("camera", "microphone"):
        shutil.copy(tmp_path / f"{name}.rtp", tmp_path / f"{name}-copy.rtp")
    await asyncio.sleep(2.5)
    during = await guest.wait_for_frames(meeting.host, "camera", seen + 60)
    recorded_video, recorded_audio = await stop_and_remux(video), await stop_and_remux(audio)
    assert video not in camera.outputs and audio not in microphone.outputs
    await guest.wait_for_frames(meeting.host, "camera", during + 15)  # forwarding goes on

    assert_recorded(recorded_video, camera, tmp_path / "camera.mkv", "vp8", 5.0)
    assert_recorded(recorded_audio, microphone, tmp_path / "microphone.mkv", "opus", 5.0)
    assert (recorded_video.width, recorded_video.height) == (320, 240)
    assert recorded_audio.width is None and recorded_audio.frames == recorded_audio.packets
    for recorded in (recorded_video, recorded_audio):  # it began when recording began
        assert recorded.started_at is not None
        assert abs(recorded.started_at.timestamp() - began) < 0.7
    assert video.dropped_packets == 0 and audio.dropped_packets == 0

    probed = await probe(recorded_video.path)
    (stream,) = probed["streams"]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("vp8", 320, 240)
    assert abs(float(probed["format"]["duration"]) - 5.0) < 0.5
    frames = video_frames(recorded_video.path)
    assert len(frames) == recorded_video.frames and len(frames) > 120
    first, last = (f.to_ndarray(format="rgb24").astype(np.float32) for f in (frames[0], frames[-1]))
    assert np.abs(first - last).mean() > 20  # the pattern changed colour: not one frame repeated

    probed = await probe(recorded_audio.path)
    (stream,) = probed["streams"]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("opus", "48000", 2)
    assert int(stream["extradata_size"]) == 19  # OpusHead
    assert abs(float(probed["format"]["duration"]) - 5.0) < 0.5
    samples, _ = audio_samples(recorded_audio.path)
    assert abs(len(samples) / 48_000 - 5.0) < 0.5
    assert float(np.sqrt(np.mean(samples**2))) > 0.1  # the tone, not silence
    assert abs(dominant_frequency(samples) - 440) < 5

    for name, kind in (("camera", "video"), ("microphone", "audio")):
        copy = (await remuxed(tmp_path / f"{name}-copy.rtp")).path
        (stream,) = (await probe(copy))["streams"]
        assert stream["codec_type"] == kind
        if kind == "video":
            assert len(video_frames(copy)) > 30  # at most the last second is missing
        else:
            assert len(audio_samples(copy)[0]) > 48_000


async def test_an_h264_publisher_is_recorded_as_h264(
    meeting: PublishingMeeting, tmp_path: Path
) -> None:
    host = await meeting.join(meeting.host)
    await host.publish((PatternTrack(), "camera"), video_codec="video/H264")
    guest = await meeting.guest()
    await guest.wait_for_frames(meeting.host, "camera", 10)
    camera = await meeting.published("camera")
    recorder = TrackRecorder(camera, tmp_path / "h264.rtp")
    recorder.start()
    await asyncio.sleep(3.0)
    recorded = await stop_and_remux(recorder)

    assert_recorded(recorded, camera, tmp_path / "h264.mkv", "h264", 3.0)
    probed = await probe(recorded.path)
    (stream,) = probed["streams"]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 240)
    assert stream["is_avc"] == "true"  # length-prefixed units, SPS and PPS in CodecPrivate
    assert abs(float(probed["format"]["duration"]) - 3.0) < 0.5
    frames = video_frames(recorded.path)
    assert len(frames) == recorded.frames and len(frames) > 60


async def test_a_vga_camera_and_a_microphone_record_in_real_time(
    meeting: PublishingMeeting, tmp_path: Path
) -> None:
    """640x480 at 30 fps (~500 kbit/s VP8) and an Opus microphone through the live SFU: every
    packet written, the size in the header (CPU per packet is `make bench-recording`'s job)."""
    host = await meeting.join(meeting.host)
    picture = np.ascontiguousarray(astronaut()[16:496, :, :])
    picture = np.concatenate((picture, picture[:, :128]), axis=1)  # 640x480
    voice = tone_track(60)
    await host.publish((voice, "microphone"), (PictureTrack(picture), "camera"))
    voice.play()
    guest = await meeting.guest()
    await guest.wait_for_frames(meeting.host, "camera", 10)
    tracks = [await meeting.published("camera"), await meeting.published("microphone")]
    recorders = [TrackRecorder(track, tmp_path / f"{track.kind}.rtp") for track in tracks]
    began = time.monotonic()
    for recorder in recorders:
        recorder.start()
    await asyncio.sleep(6.0)
    results = [await stop_and_remux(recorder) for recorder in recorders]
    elapsed = time.monotonic() - began

    for recorded in results:
        assert recorded.error is None and recorded.packets > 0
        assert abs(recorded.duration - elapsed) < 1.5  # about the recorded time, in real time
    assert results[0].width == 640 and results[0].height == 480


# --- straight into a PublishedTrack ------------------------------------------------------------


def pattern(number: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    """A frame that changes: a shifting gradient and a bar."""
    x = np.arange(width, dtype=np.int32)[None, :]
    y = np.arange(height, dtype=np.int32)[:, None]
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = (x + 4 * number) % 256
    image[..., 1] = (y + 2 * number) % 256
    image[..., 2] = (8 * number) % 256
    return image


def encoded_frames(
    codec: str, sizes: list[tuple[int, int]], keyframe_every: int
) -> list[tuple[bytes, ...]]:
    """RTP payloads of one frame per entry of ``sizes`` (a size change makes a keyframe)."""
    encoder = get_encoder(next(c for c in CODECS["video"] if c.mimeType == codec))
    payloads: list[tuple[bytes, ...]] = []
    for number, (width, height) in enumerate(sizes):
        frame = VideoFrame.from_ndarray(pattern(number, width, height), format="rgb24")
        frame.pts, frame.time_base = number * 3000, fractions.Fraction(1, 90_000)
        encoded, _ = encoder.encode(frame, force_keyframe=number % keyframe_every == 0)
        payloads.append(tuple(encoded))
    return payloads


def rtp_frame(payloads: tuple[bytes, ...], sequence: int, timestamp: int) -> list[bytes]:
    return [
        RtpPacket(
            payload_type=PUBLISHER_VIDEO,
            marker=int(index == len(payloads) - 1),
            sequence_number=(sequence + index) % 65536,
            timestamp=timestamp % (1 << 32),
            ssrc=0x1234,
            payload=payload,
        ).serialize()
        for index, payload in enumerate(payloads)
    ]


async def play(
    track: PublishedTrack, frames: list[list[bytes]], interval: float, drop: frozenset[int]
) -> None:
    """Frames (lists of packets) into the track's hot path every ``interval`` seconds,
    without the packets numbered in ``drop``."""
    number = 0
    for packets in frames:
        for packet in packets:
            if number not in drop:
                await track.on_rtp(packet, 0)
            number += 1
        await asyncio.sleep(interval)


def recorder_for(
    kind: str, codec: str, path: Path, upstream: Upstream | None = None
) -> tuple[PublishedTrack, TrackRecorder]:
    track = published_track(kind, codec, upstream or Upstream())  # type: ignore[arg-type]
    recorder = TrackRecorder(track, path)
    recorder.start()
    return track, recorder


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_after_loss_frames_wait_for_a_keyframe(codec: str, tmp_path: Path) -> None:
    payloads = encoded_frames(codec, [(320, 240)] * 90, keyframe_every=30)
    frames: list[list[bytes]] = []
    sequence = 65_000  # sequence numbers wrap around on the way
    for number, frame_payloads in enumerate(payloads):
        frames.append(rtp_frame(frame_payloads, sequence, 1000 + number * 3000))
        sequence += len(frame_payloads)
    first_packet = [sum(len(f) for f in frames[:n]) for n in range(len(frames))]
    # Lost: a packet of frame 40 and one of frame 70 (then 20 frames each until a keyframe).
    drop = frozenset((first_packet[40], first_packet[70]))
    upstream = Upstream()
    track, recorder = recorder_for("video", codec, tmp_path / "lossy.rtp", upstream)
    await play(track, frames, 1 / 30, drop)
    recorded = await stop_and_remux(recorder)

    # Written: frames 0-39, then 60-69 (from the keyframe); 70-89 wait for one that never came.
    assert recorded.keyframe_gaps == 2
    assert recorded.frames == 50
    assert recorded.lost_packets == 2
    assert upstream.keyframe_requests >= 2  # at the start, and after loss
    assert abs(recorded.duration - 69 / 30) < 0.05  # the RTP timeline, dropped frames and all
    decoded = video_frames(recorded.path)
    assert len(decoded) == recorded.frames
    times = [float(frame.time or 0.0) for frame in decoded]
    assert abs(times[40] - 60 / 30) < 0.01  # the frames after the first gap came from frame 60
    assert [n for n, frame in enumerate(decoded) if frame.key_frame] == [0, 30, 40]


async def test_the_node_asks_for_a_keyframe_at_the_start_and_after_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without parsing a packet: a flush that used up more sequence numbers than it got packets
    asks for a keyframe (flushed by hand here; throttling off)."""
    monkeypatch.setattr("meeting_sfu.recording.recorder.FLUSH_INTERVAL", 600.0)
    monkeypatch.setattr("meeting_sfu.recording.recorder.KEYFRAME_RETRY", 0.0)
    monkeypatch.setattr("meeting_sfu.media.tracks.KEYFRAME_INTERVAL", 0.0)
    payloads = encoded_frames("video/VP8", [(160, 120)] * 40, keyframe_every=100)
    frames, sequence = [], 65_530  # wrapping around on the way
    for number, frame_payloads in enumerate(payloads):
        frames.append(rtp_frame(frame_payloads, sequence, number * 3000))
        sequence += len(frame_payloads)
    upstream = Upstream()
    track, recorder = recorder_for("video", "video/VP8", tmp_path / "asks.rtp", upstream)
    await asyncio.sleep(0)
    requests = [upstream.keyframe_requests]  # at the start
    lost = sum(map(len, frames[:25])) + 1  # the second packet of frame 25 (or frame 26's first)
    for first, last in ((0, 10), (10, 20), (20, 30), (30, 40)):
        await play(track, frames[first:last], 0, frozenset((lost - sum(map(len, frames[:first])),)))
        recorder.flush()
        await asyncio.sleep(0.01)
        requests.append(upstream.keyframe_requests)
    await recorder.stop()
    # Start, first flush (in case the first was lost), then only the flush that saw the loss.
    assert requests == [1, 2, 2, 3, 3]


async def test_a_new_resolution_goes_on_in_the_same_file(tmp_path: Path) -> None:
    sizes = [(320, 240)] * 30 + [(640, 480)] * 30
    payloads = encoded_frames("video/VP8", sizes, keyframe_every=1000)
    frames, sequence = [], 1
    for number, frame_payloads in enumerate(payloads):
        frames.append(rtp_frame(frame_payloads, sequence, number * 3000))
        sequence += len(frame_payloads)
    track, recorder = recorder_for("video", "video/VP8", tmp_path / "sizes.rtp")
    await play(track, frames, 1 / 60, frozenset())
    recorded = await stop_and_remux(recorder)

    assert (recorded.width, recorded.height) == (320, 240)  # the header's: the first keyframe's
    assert recorded.size_changes == 1 and recorded.frames == 60
    (stream,) = (await probe(recorded.path))["streams"]
    assert (stream["width"], stream["height"]) == (320, 240)
    decoded = video_frames(recorded.path)
    assert [(f.width, f.height) for f in decoded] == sizes  # every frame at its own size


def tone_packets(seconds: float, sequence: int, timestamp: int) -> list[bytes]:
    encoder = get_encoder(next(c for c in CODECS["audio"] if c.mimeType == "audio/opus"))
    t = np.arange(int(seconds * 48_000)) / 48_000
    pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    packets = []
    for start in range(0, len(pcm) - 959, 960):
        frame = AudioFrame.from_ndarray(pcm[start : start + 960].reshape(1, -1), layout="mono")
        frame.sample_rate, frame.pts = 48_000, start
        frame.time_base = fractions.Fraction(1, 48_000)
        for payload in encoder.encode(frame)[0]:
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


async def test_pauses_keep_their_time_and_clock_jumps_follow_the_wall_clock(
    tmp_path: Path,
) -> None:
    """Fed in real time. Audio: a DTX pause (the sender sends nothing, its clock runs on) stays
    in the file. Video: a camera that stops for 1.5 s while its RTP clock stands still, then a
    clock that jumps back 10 s (a replaced track), timestamps wrapping around meanwhile: the
    file follows the wall clock."""

    async def audio() -> RemuxedTrack:
        before = tone_packets(1.0, 65_500, 2**32 - 24_000)  # wraps around after 0.5 s
        after = tone_packets(1.0, 65_500 + len(before), 2**32 - 24_000 + 48_000 + 72_000)
        track, recorder = recorder_for("audio", "audio/opus", tmp_path / "dtx.rtp")
        await play(track, [[p] for p in before], 0.02, frozenset())
        await asyncio.sleep(1.5)  # DTX: nothing sent, the RTP clock moves on by as much
        await play(track, [[p] for p in after], 0.02, frozenset())
        return await stop_and_remux(recorder)

    async def video() -> RemuxedTrack:
        payloads = encoded_frames("video/VP8", [(320, 240)] * 90, keyframe_every=30)
        start = 2**32 - 45_000  # wraps around after 0.5 s
        frames, sequence = [], 1
        for number, frame_payloads in enumerate(payloads):
            timestamp = start + number * 3000
            if number >= 60:
                timestamp -= 10 * 90_000  # the clock jumped back
            frames.append(rtp_frame(frame_payloads, sequence, timestamp))
            sequence += len(frame_payloads)
        track, recorder = recorder_for("video", "video/VP8", tmp_path / "toggle.rtp")
        await play(track, frames[:30], 1 / 30, frozenset())
        await asyncio.sleep(1.5)  # camera off: nothing sent, and the clock stood still
        await play(track, frames[30:60], 1 / 30, frozenset())
        await asyncio.sleep(0.5)
        await play(track, frames[60:], 1 / 30, frozenset())
        return await stop_and_remux(recorder)

    recorded_audio, recorded_video = await asyncio.gather(audio(), video())

    samples, times = audio_samples(recorded_audio.path)
    assert abs(recorded_audio.duration - 3.5) < 0.1
    resumed = next(t for t in times if t > 1.1)
    assert abs(resumed - 2.5) < 0.05  # after the pause, where the sender's clock put it
    assert float(np.abs(samples[48_000 + 4800 : 48_000 + 60_000]).max()) < 0.01  # silence
    assert float(np.sqrt(np.mean(samples[:48_000] ** 2))) > 0.1

    decoded = video_frames(recorded_video.path)
    assert len(decoded) == 90 and recorded_video.keyframe_gaps == 0
    video_times = [float(frame.time or 0.0) for frame in decoded]
    assert video_times == sorted(video_times)
    assert abs(video_times[30] - video_times[29] - 1.5) < 0.25  # the pause in wall time
    assert abs(video_times[60] - video_times[59] - 0.5) < 0.25  # not 10 s back
    assert abs(recorded_video.duration - (3.0 + 1.5 + 0.5)) < 0.4


async def test_no_media_no_file(tmp_path: Path) -> None:
    track, recorder = recorder_for("video", "video/VP8", tmp_path / "nothing.rtp")
    await asyncio.sleep(0.25)
    captured = await recorder.stop()
    assert captured.packets == 0 and captured.first_at is None and captured.codec == "vp8"
    assert not captured.path.exists() and not track.outputs


async def test_a_capture_cut_by_a_crash_keeps_its_whole_chunks(tmp_path: Path) -> None:
    """A node killed in the middle of a write leaves a cut last chunk: reading leaves it out,
    and everything before it is remuxed."""
    payloads = encoded_frames("video/VP8", [(320, 240)] * 45, keyframe_every=30)
    frames, sequence = [], 1
    for number, frame_payloads in enumerate(payloads):
        frames.append(rtp_frame(frame_payloads, sequence, number * 3000))
        sequence += len(frame_payloads)
    track, recorder = recorder_for("video", "video/VP8", tmp_path / "cut.rtp")
    await play(track, frames[:30], 0, frozenset())
    recorder.flush()
    whole = recorder.path.stat().st_size
    await play(track, frames[30:], 0, frozenset())
    captured: CapturedTrack = await recorder.stop()
    assert captured.packets == sum(map(len, frames)) and captured.bytes > whole
    with recorder.path.open("r+b") as file:
        file.truncate(whole + (captured.bytes - whole) // 2)

    found = await asyncio.to_thread(read_captured, recorder.path)
    assert found is not None and found.packets == sum(map(len, frames[:30]))
    assert (found.track_id, found.kind, found.codec) == (track.track_id, "video", "vp8")
    result = await remuxed(recorder.path)
    assert result.frames == 30 and result.error is None
    assert len(video_frames(result.path)) == 30


async def test_what_is_not_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    stray = tmp_path / "stray.rtp"
    stray.write_bytes(b"\x1aE\xdf\xa3 a Matroska file, say")
    with pytest.raises(CaptureError, match="not a capture"):
        await remuxed(stray)
    assert await asyncio.to_thread(read_captured, stray) is None


@pytest.mark.parametrize(("width", "height"), [(320, 240), (640, 360), (1280, 720), (176, 144)])
def test_h264_picture_size_is_read_from_the_sps(width: int, height: int) -> None:
    (payloads,) = encoded_frames("video/H264", [(width, height)], keyframe_every=1)
    access_unit = b"".join(units[0] for units in map(h264_units, payloads) if units is not None)
    sps = next(unit for unit in annexb_units(access_unit) if unit[0] & 0x1F == 7)
    assert h264_size(sps) == (width, height)
