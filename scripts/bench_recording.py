"""`make bench-recording`: what recording costs on a media node, and how fast meetings are mixed.

1. Recorder: the gateway in-process on embedded defaults (its media node), one aiortc publisher
   with a 640x480 VP8 camera (30 fps) and an Opus microphone, one subscriber; a recorder on each
   track for ``BENCH_RECORD_SECONDS``. Reported: the recorder's CPU per packet (its worker
   thread's time) next to the node's CPU per forwarded packet measured over the same run.
2. Mixer: a 60 s meeting made with ffmpeg's test sources (3 cameras, a 30 s screen share, 3
   microphones), mixed into the 1280x720 MP4; seconds of output per second of work.

Writes the results into docs/benchmarks.md ("Recording") with the machine and the date.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import secrets
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from meeting_sfu.media.recorder import TrackRecorder
from meeting_shared.db.migrate import upgrade
from meeting_shared.recording.mixer import Timeline, TimelineTrack, mix
from meeting_shared.settings import Settings
from scripts.bench_api import machine
from tests.conftest import Api, free_port, start_live_server
from tests.media.test_forwarding import Meeting
from tests.media_client import PictureTrack, SpeechTrack

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
SECONDS = float(os.environ.get("BENCH_RECORD_SECONDS", "20"))
MIX_SECONDS = 60
GENEROUS = "100000/60"


def settings_for(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        port=free_port(),
        data_dir=data_dir,
        web_dir=data_dir / "no-web",
        embedded_ai_node=False,
        embedded_recording_worker=False,
        ice_host_addresses=["127.0.0.1"],
        jwt_secret=secrets.token_urlsafe(48),
        argon2_time_cost=1,
        argon2_memory_kib=8192,
        argon2_parallelism=1,
        rate_limit_login=GENEROUS,
        rate_limit_register=GENEROUS,
        log_level="WARNING",
    )


def forwarding_cost() -> float:
    """µs of CPU per forwarded packet, from the SFU benchmark's result in the report."""
    found = re.search(r"Forwarded packets per SFU CPU-second: ([\d,]+)", REPORT.read_text())
    if found is None:
        raise SystemExit("run `make bench-sfu` first: its result is the comparison")
    return 1e6 / int(found.group(1).replace(",", ""))


async def recorder_cost(data_dir: Path) -> list[str]:
    settings = settings_for(data_dir)
    await asyncio.to_thread(upgrade, settings.database_url)
    server, stop = await start_live_server(settings)
    api = Api(server)
    lines: list[str] = []
    try:
        host = await api.user("benchrec")
        meeting = Meeting(api, await api.meeting(host), host)
        publisher = await meeting.join(host)
        rng = np.random.default_rng(1)
        picture = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(48000 * 120) / 48000)).astype(np.float32)
        voice = SpeechTrack(tone)
        await publisher.publish((voice, "microphone"), (PictureTrack(picture), "camera"))
        voice.play()
        subscriber = await meeting.join(await meeting.guest("benchrecsub"))
        await subscriber.wait_for_frames(host, "camera", 10)
        room = server.app.state.signaling.rooms.rooms[uuid.UUID(meeting.id)]
        tracks = list(room.media.tracks.values())
        forwarding = forwarding_cost()
        recorders = [TrackRecorder(t, data_dir / f"{t.kind}.mkv") for t in tracks]
        for recorder in recorders:
            recorder.start()
        await asyncio.sleep(SECONDS)
        results = [await recorder.stop() for recorder in recorders]
        lines.append(
            f"- Forwarding, for comparison: {forwarding:.1f} µs of the node's CPU per forwarded "
            'packet copy (the "SFU" section: `make bench-sfu`, the node alone on a core).'
        )
        for recorder, recorded in zip(recorders, results, strict=True):
            per_packet = recorder.cpu_seconds / max(1, recorded.packets) * 1e6
            share = recorder.cpu_seconds / SECONDS * 100
            rate = recorded.bytes * 8 / max(0.1, recorded.duration) / 1000
            what = "an Opus microphone"
            if recorded.kind == "video":
                what = "a VP8 camera 640x480 30 fps"
            lines.append(
                f"- Recording {what} ({recorded.packets / SECONDS:.0f} packets/s, "
                f"{rate:.0f} kbit/s): **{per_packet:.0f} µs per packet**, {share:.2f} % of a "
                f"core, {per_packet / forwarding:.1f}x forwarding one copy of it."
            )
            print(lines[-1])
    finally:
        for peer in meeting.peers:
            await peer.close()
        await api.aclose()
        await stop()
    return lines


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def mixer_speed(folder: Path) -> list[str]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tracks: list[TimelineTrack] = []
    cameras = [
        ("vp8", "libvpx", 640, 480),
        ("h264", "libx264", 640, 360),
        ("vp8", "libvpx", 320, 240),
    ]
    for number, (_codec, encoder, width, height) in enumerate(cameras):
        name = f"camera{number}.mkv"
        source = f"testsrc2=size={width}x{height}:rate=30"
        ffmpeg("-f", "lavfi", "-i", source, "-t", str(MIX_SECONDS),
               "-c:v", encoder, "-b:v", "500k", str(folder / name))  # fmt: skip
        tracks.append(_track(start, f"cam{number}", "camera", name, 0, MIX_SECONDS))
        audio = f"mic{number}.mkv"
        ffmpeg("-f", "lavfi", "-i", f"sine=frequency={440 + 110 * number}:sample_rate=48000",
               "-t", str(MIX_SECONDS), "-c:a", "libopus", str(folder / audio))  # fmt: skip
        tracks.append(_track(start, f"mic{number}", "microphone", audio, 0, MIX_SECONDS))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=1280x720:rate=15", "-t", "30",
           "-c:v", "libvpx", "-b:v", "1000k", str(folder / "screen.mkv"))  # fmt: skip
    tracks.append(_track(start, "screen", "screen", "screen.mkv", 15, 45))
    timeline = Timeline(
        recording_id=uuid.uuid4(),
        meeting_id=uuid.uuid4(),
        title="Benchmark",
        started_at=start,
        stopped_at=start + timedelta(seconds=MIX_SECONDS),
        tracks=tracks,
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    result = mix(timeline, folder, folder / "out.mp4")
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    line = (
        f"- Mixing a {MIX_SECONDS} s meeting (3 cameras, a 30 s screen share, 3 microphones; "
        f"1280x720 H.264 veryfast + AAC): **{result.duration_seconds / wall:.1f} s of output per "
        f"second of work** ({wall:.1f} s wall, {cpu:.1f} s of CPU), "
        f"{result.size_bytes / 1e6:.1f} MB."
    )
    print(line)
    return [line]


def _track(
    start: datetime, track_id: str, source: str, file: str, begin: float, end: float
) -> TimelineTrack:
    return TimelineTrack(
        track_id=track_id,
        user_id=uuid.uuid4(),
        display_name=track_id,
        kind="audio" if source == "microphone" else "video",
        source=source,
        file=file,
        started_at=start + timedelta(seconds=begin),
        ended_at=start + timedelta(seconds=end),
    )


def write_report(lines: list[str]) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            "## Recording",
            "",
            f"Measured {now} on {machine()} by `make bench-recording`.",
            "",
            *lines,
            "",
        ]
    )
    text = REPORT.read_text()
    pattern = re.compile(r"## Recording\n.*?(?=\n## |\Z)", re.DOTALL)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    REPORT.write_text(text.rstrip() + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="meeting-bench-rec-") as directory:
        folder = Path(directory)
        lines = asyncio.run(recorder_cost(folder))
        mixing = folder / "mix"
        mixing.mkdir()
        lines += mixer_speed(mixing)
    write_report(lines)
    print(f"written to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
