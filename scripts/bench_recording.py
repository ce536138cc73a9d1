"""`make bench-recording`: what recording costs on a media node, and how fast meetings are mixed.

1. Recorder: the gateway in-process on embedded defaults (its media node), one aiortc publisher
   with a 640x480 VP8 camera (30 fps) and an Opus microphone, one subscriber; a recorder on each
   track for ``BENCH_RECORD_SECONDS``. Reported: the recorder's CPU per packet on the media node
   (its flushes' CPU time in the live run, plus its hot-path ``send`` timed on the same packets)
   next to the SFU benchmark's CPU per forwarded packet copy; then the mixing worker's remux of
   the captures into Matroska (seconds of media per CPU-second).
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

from meeting_sfu.media.tracks import PublishedTrack
from meeting_sfu.recording.capture import read_capture
from meeting_sfu.recording.mixer import mix
from meeting_sfu.recording.recorder import TrackRecorder
from meeting_sfu.recording.remux import remux
from meeting_shared.db.migrate import upgrade
from meeting_shared.services.recordings import RecordedTrack, Timeline
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


def forwarding_costs() -> tuple[float, float, int]:
    """From the SFU benchmark's result in the report: µs of CPU per forwarded packet copy at
    its best (the largest meeting), and the least a track's forwarding costs per packet over
    the meeting sizes it measured (a copy per subscriber: participants - 1), with that size."""
    report = REPORT.read_text()
    best = re.search(r"Forwarded packets per SFU CPU-second: ([\d,]+)", report)
    rows = re.findall(r"^\| (\d+) \| [\d,]+ \| \d+ % \| ([\d,]+) \|", report, re.MULTILINE)
    if best is None or not rows:
        raise SystemExit("run `make bench-sfu` first: its result is the comparison")
    per_track = {
        int(size): (int(size) - 1) * 1e6 / int(per_cpu.replace(",", "")) for size, per_cpu in rows
    }
    size = min(per_track, key=per_track.__getitem__)
    return 1e6 / int(best.group(1).replace(",", "")), per_track[size], size


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
        copy, track_cost, size = forwarding_costs()
        recorders = [TrackRecorder(t, data_dir / f"{t.kind}.rtp") for t in tracks]
        for recorder in recorders:
            recorder.start()
        await asyncio.sleep(SECONDS)
        results = [await recorder.stop() for recorder in recorders]
        lines.append(
            f'- Forwarding, for comparison (the "SFU" section, `make bench-sfu`): a track\'s '
            f"packet costs the node at least {track_cost:.0f} µs of CPU to forward (at "
            f"{size} participants, the cheapest size measured; a copy per subscriber), and one "
            f"more copy {copy:.1f} µs at the most efficient (the largest meeting)."
        )
        for recorder, captured in zip(recorders, results, strict=True):
            packets = captured_packets(captured.path)
            hot_path = send_cost(recorder.track, packets)
            flushes = recorder.cpu_seconds / max(1, captured.packets) * 1e6
            per_packet = hot_path + flushes
            rate = captured.packets / SECONDS
            what = "an Opus microphone"
            if captured.kind == "video":
                what = "a VP8 camera 640x480 30 fps"
            kbits = sum(map(len, packets)) * 8 / SECONDS / 1000
            lines.append(
                f"- Recording {what} ({rate:.0f} packets/s, {kbits:.0f} kbit/s) on the media "
                f"node: **{per_packet:.2f} µs per packet** ({hot_path:.2f} in the hot path, "
                f"{flushes:.2f} in the once-a-second write), {per_packet * rate / 1e4:.4f} % of "
                f"a core: **{per_packet / track_cost * 100:.1f} % of the track's forwarding "
                f"cost** (target ≤ 5 %), {per_packet / copy * 100:.0f} % of one more copy."
            )
            print(lines[-1])
            output = captured.path.with_suffix(".mkv")
            began = time.process_time()
            remuxed = remux(captured.path, output)
            cpu = time.process_time() - began
            lines.append(
                f"  Remuxing its capture into Matroska in the mixing worker: "
                f"{remuxed.duration / cpu:.0f} s of media per CPU-second "
                f"({cpu / max(1, captured.packets) * 1e6:.0f} µs per packet, off the media node)."
            )
            print(lines[-1])
    finally:
        for peer in meeting.peers:
            await peer.close()
        await api.aclose()
        await stop()
    return lines


def captured_packets(path: Path) -> list[bytes]:
    _, chunks = read_capture(path)
    return [packet for chunk in chunks for packet in chunk.packets]


def send_cost(track: PublishedTrack, packets: list[bytes]) -> float:
    """µs per packet of a recorder's ``send`` (what the forwarding loop calls), on these
    packets, a second's worth at a time (flushed to /dev/null in between, untimed); the
    recorder is not attached, so nothing else runs."""
    recorder = TrackRecorder(track, Path(os.devnull))
    batch = max(1, round(len(packets) / SECONDS))
    best = float("inf")
    for _ in range(5):
        spent = 0.0
        for start in range(0, len(packets), batch):
            began = time.perf_counter()
            for packet in packets[start : start + batch]:
                recorder.send(packet)
            spent += time.perf_counter() - began
            recorder.flush()
        best = min(best, spent)
    return best / len(packets) * 1e6


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def mixer_speed(folder: Path) -> list[str]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tracks: list[RecordedTrack] = []
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
) -> RecordedTrack:
    return RecordedTrack(
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
