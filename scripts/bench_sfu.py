"""`make bench-sfu`: how much the packet-forwarding SFU carries on one core.

Starts `meeting serve` on embedded defaults pinned to one core, and on the other core a load
generator: participants that publish pre-encoded video (VP8, 640x480, 30 fps, ~750 kbit/s) and
Opus audio and subscribe to everyone else, over real ICE/DTLS/SRTP. The generator never encodes
or decodes: it sends packets made once at start-up and counts what arrives straight off its
transports. Meetings grow until video no longer arrives at >= 27 fps with < 1 % loss.

Measured per meeting size: forwarded packets per CPU-second of the SFU, delivered frame rate and
loss per stream, and publisher-send -> subscriber-receive latency through the SFU (the RTP
timestamp carries the send time on the system-wide monotonic clock). Writes the results into
docs/benchmarks.md with the machine and the date.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pylibsrtp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket
from av import AudioFrame, VideoFrame
from websockets.asyncio.client import ClientConnection, connect

from meeting_sfu.media import webrtc
from scripts.bench_api import cpu_set, machine, process_cpu_seconds, resident_mb, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
PASSWORD = "benchmark password 1"
SIZES = tuple(
    int(n)
    for n in os.environ.get("BENCH_SIZES", "2,4,6,8,10,12,14,16,18,20,22,24,26,28,30").split(",")
)
WARMUP = float(os.environ.get("BENCH_WARMUP", "4"))
WINDOW = float(os.environ.get("BENCH_SECONDS", "8"))
FPS = 30
VIDEO_BITRATE = 750_000
MIN_FPS = 27.0
MAX_LOSS = 0.01
TARGET_PACKETS_PER_CPU_SECOND = 40_000
VIDEO_PT, AUDIO_PT = 97, 96  # aiortc's (and so the SFU's) payload types for VP8 and Opus
VIDEO_CLOCK = 90_000


def pre_encode() -> tuple[list[list[bytes]], bytes]:
    """VP8 payloads for 2 s of a moving 640x480 picture, and one 20 ms Opus payload."""
    encoder = Vp8Encoder()
    encoder.target_bitrate = VIDEO_BITRATE * 5 // 4  # its rate control undershoots on this clip
    frames: list[list[bytes]] = []
    texture = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for index in range(2 * FPS):
        # A textured picture panning a few pixels a frame, plus a little fresh detail: about
        # what a webcam gives a VP8 encoder at this bitrate.
        image = (np.roll(texture, index * 3, axis=1) // 4 + 96).astype(np.uint8)
        rows = slice((index * 20) % 480, (index * 20) % 480 + 20)
        image[rows] = np.random.default_rng(index).integers(0, 256, image[rows].shape)
        frame = VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = index * 3000, fractions.Fraction(1, VIDEO_CLOCK)
        payloads, _ = encoder.encode(frame, force_keyframe=index == 0)
        frames.append(payloads)
    samples = (3000 * np.sin(np.arange(960) / 10)).astype(np.int16).reshape(1, -1)
    audio = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    audio.sample_rate, audio.pts = 48000, 0
    audio.time_base = fractions.Fraction(1, 48000)
    opus, _ = OpusEncoder().encode(audio)
    return frames, opus[0]


@dataclass
class Stream:
    """What one subscriber received from one SSRC during the window."""

    video: bool
    packets: int = 0
    frames: int = 0
    first_sequence: int = -1
    last_sequence: int = 0
    cycles: int = 0

    def add(self, sequence: int) -> None:
        if self.first_sequence < 0:
            self.first_sequence = self.last_sequence = sequence
        elif 0 < (sequence - self.last_sequence) % 65536 < 0x8000:
            if sequence < self.last_sequence:
                self.cycles += 65536
            self.last_sequence = sequence
        self.packets += 1

    @property
    def expected(self) -> int:
        return self.cycles + self.last_sequence - self.first_sequence + 1


@dataclass
class Window:
    counting: bool = False
    streams: dict[tuple[int, int], Stream] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    late_sends: int = 0


class LoadParticipant:
    def __init__(self, index: int, window: Window, media: tuple[list[list[bytes]], bytes]):
        self.index = index
        self.window = window
        self.video_frames, self.opus = media
        self.socket: ClientConnection | None = None
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.first_remote_frame = asyncio.get_running_loop().create_future()
        self.keyframe_wanted = False

    async def join(self, ticket: dict[str, Any], origin: str) -> None:
        self.socket = await connect(ticket["signaling_url"], origin=origin)  # type: ignore[arg-type]
        await self.socket.send(json.dumps({"type": "join", "v": 1, "token": ticket["join_token"]}))
        self.tasks.append(asyncio.create_task(self._read()))
        self.publisher = webrtc.peer_connection([])
        for kind in ("audio", "video"):
            self.publisher.addTransceiver(kind, direction="sendonly")
        for transceiver in webrtc.adopt(self.publisher):
            transceiver.setCodecPreferences(webrtc.forwarding_codecs(transceiver.kind))
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        tracks = [
            {"mid": t.mid, "source": "microphone" if t.kind == "audio" else "camera"}
            for t in self.publisher.getTransceivers()
        ]
        await self._send(
            type="publish_offer", sdp=self.publisher.localDescription.sdp, tracks=tracks
        )

    async def _send(self, **frame: Any) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(frame))

    async def _read(self) -> None:
        assert self.socket is not None
        async for text in self.socket:
            frame = json.loads(text)
            if frame["type"] == "publish_answer":
                assert self.publisher is not None
                await self.publisher.setRemoteDescription(
                    RTCSessionDescription(sdp=frame["sdp"], type="answer")
                )
                for transceiver in self.publisher.getTransceivers():
                    sender = webrtc.sender_of(transceiver)
                    sender.on_started = self._sending(transceiver.kind, sender)
                    sender.on_rtcp = self._on_rtcp
            elif frame["type"] == "subscribe_offer":
                await self._answer(frame["sdp"])
            elif frame["type"] == "error":
                print(f"participant {self.index}: {frame}", file=sys.stderr)

    async def _answer(self, sdp: str) -> None:
        if self.subscriber is None:
            self.subscriber = webrtc.peer_connection([])
        pc = self.subscriber
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        webrtc.adopt(pc)
        if not hasattr(self, "tap"):
            transport = webrtc.dtls_transport(pc)
            self.tap = webrtc.RtpTap(transport, fallback=self._received)
            pc.on("connectionstatechange", lambda: _count_without_decrypting(pc, transport))
        await pc.setLocalDescription(await pc.createAnswer())
        await self._send(type="subscribe_answer", sdp=pc.localDescription.sdp)

    async def _on_rtcp(self, packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.keyframe_wanted = True  # a new subscriber: start the clip again at its keyframe

    def _sending(self, kind: str, sender: webrtc.PacketSender) -> Any:
        async def start() -> None:
            loop = self._send_video if kind == "video" else self._send_audio
            self.tasks.append(asyncio.create_task(loop(sender)))

        return start

    async def _send_video(self, sender: webrtc.PacketSender) -> None:
        sequence, index = secrets.randbelow(65536), 0
        ssrc = sender._ssrc.to_bytes(4, "big")
        next_frame = time.monotonic()
        while True:
            if self.keyframe_wanted:
                self.keyframe_wanted, index = False, 0
            payloads = self.video_frames[index]
            index = index + 1 if index + 1 < len(self.video_frames) else 1
            stamp = (int(time.monotonic() * VIDEO_CLOCK) & 0xFFFFFFFF).to_bytes(4, "big")
            last = len(payloads) - 1
            for position, payload in enumerate(payloads):
                second = VIDEO_PT | (0x80 if position == last else 0)
                header = bytes((0x80, second)) + sequence.to_bytes(2, "big") + stamp + ssrc
                with contextlib.suppress(ConnectionError):
                    sender.send_now(header + payload)
                sequence = (sequence + 1) & 0xFFFF
            next_frame += 1 / FPS
            delay = next_frame - time.monotonic()
            if delay < -0.005 and self.window.counting:
                self.window.late_sends += 1
            await asyncio.sleep(max(delay, 0))

    async def _send_audio(self, sender: webrtc.PacketSender) -> None:
        sequence, timestamp = secrets.randbelow(65536), secrets.randbelow(1 << 32)
        ssrc = sender._ssrc.to_bytes(4, "big")
        next_packet = time.monotonic()
        while True:
            header = (
                bytes((0x80, AUDIO_PT)) + sequence.to_bytes(2, "big")
                + timestamp.to_bytes(4, "big") + ssrc
            )  # fmt: skip
            with contextlib.suppress(ConnectionError):
                sender.send_now(header + self.opus)
            sequence, timestamp = (sequence + 1) & 0xFFFF, (timestamp + 960) & 0xFFFFFFFF
            next_packet += 0.02
            await asyncio.sleep(max(next_packet - time.monotonic(), 0))

    async def _received(self, data: bytes, arrival_ms: int) -> None:
        video = data[1] & 0x7F == VIDEO_PT
        marker = data[1] & 0x80
        if video and marker and not self.first_remote_frame.done():
            self.first_remote_frame.set_result(time.monotonic())
        window = self.window
        if not window.counting:
            return
        key = (self.index, int.from_bytes(data[8:12], "big"))
        stream = window.streams.get(key)
        if stream is None:
            stream = window.streams[key] = Stream(video=video)
        stream.add((data[2] << 8) | data[3])
        if video and marker:
            stream.frames += 1
            sent = int.from_bytes(data[4:8], "big")
            now = int(time.monotonic() * VIDEO_CLOCK) & 0xFFFFFFFF
            window.latencies_ms.append(((now - sent) & 0xFFFFFFFF) * 1000 / VIDEO_CLOCK)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close()
        for pc in (self.publisher, self.subscriber):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()


class _ClearHeaders:
    """Stands in for the receiving SRTP session: SRTP leaves the RTP header in the clear, and the
    generator only reads headers, so it skips decryption (as a NIC-level counter would)."""

    def unprotect(self, data: bytes) -> bytes:
        return data

    def unprotect_rtcp(self, data: bytes) -> bytes:
        raise pylibsrtp.Error("RTCP from the SFU is not read by the generator")


def _count_without_decrypting(pc: RTCPeerConnection, transport: Any) -> None:
    if pc.connectionState == "connected" and transport._rx_srtp is not None:
        transport._rx_srtp = _ClearHeaders()


@dataclass(frozen=True)
class Result:
    participants: int
    video_streams: int
    packets_forwarded: int
    sfu_cpu_seconds: float
    seconds: float
    min_fps: float
    median_fps: float
    max_loss: float
    latency_p50_ms: float
    latency_p95_ms: float
    late_sends: int
    sfu_rss_mb: float
    join_to_first_frame_ms: float

    @property
    def packets_per_cpu_second(self) -> float:
        return self.packets_forwarded / self.sfu_cpu_seconds if self.sfu_cpu_seconds else 0.0

    @property
    def ok(self) -> bool:
        return self.min_fps >= MIN_FPS and self.max_loss < MAX_LOSS


async def register(client: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """A new user's access token and id."""
    response = await client.post(
        "/api/v1/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    response.raise_for_status()
    login = await client.post("/api/v1/auth/login", json={"login": name, "password": PASSWORD})
    login.raise_for_status()
    client.cookies.clear()
    body = login.json()
    return str(body["access_token"]), str(body["user"]["id"])


async def run_meeting(
    url: str,
    users: list[tuple[str, str]],
    size: int,
    media: tuple[list[list[bytes]], bytes],
    sfu_pid: int,
) -> Result:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        def auth(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        tokens = [token for token, _ in users[:size]]
        host = tokens[0]
        created = await client.post(
            "/api/v1/meetings", headers=auth(host), json={"title": f"bench {size}"}
        )
        created.raise_for_status()
        meeting = created.json()
        for _, user_id in users[1:size]:
            invited = await client.post(
                f"/api/v1/meetings/{meeting['id']}/invites",
                headers=auth(host),
                json={"user_id": user_id},
            )
            invited.raise_for_status()
        window = Window()
        participants = [LoadParticipant(i, window, media) for i in range(size)]
        join_times: list[float] = []
        try:
            for participant, token in zip(participants, tokens, strict=False):
                ticket = await client.post(
                    f"/api/v1/meetings/{meeting['id']}/join", headers=auth(token), json={}
                )
                ticket.raise_for_status()
                join_times.append(time.monotonic())
                await participant.join(ticket.json(), url)
            async with asyncio.timeout(30):
                firsts = [await p.first_remote_frame for p in participants]
            first_frame_ms = statistics.median(
                (f - j) * 1000 for f, j in zip(firsts, join_times, strict=True)
            )
            await asyncio.sleep(WARMUP)
            cpu_before, started = process_cpu_seconds(sfu_pid), time.monotonic()
            window.counting = True
            await asyncio.sleep(WINDOW)
            window.counting = False
            seconds = time.monotonic() - started
            cpu = process_cpu_seconds(sfu_pid) - cpu_before
            rss = resident_mb(sfu_pid)
        finally:
            for participant in participants:
                await participant.close()
            await client.post(f"/api/v1/meetings/{meeting['id']}/end", headers=auth(host))
    streams = list(window.streams.values())
    video = [s for s in streams if s.video]
    fps = [s.frames / seconds for s in video] or [0.0]
    losses = [max(s.expected - s.packets, 0) / s.expected for s in streams if s.expected] or [1.0]
    latencies = sorted(window.latencies_ms) or [0.0]
    expected_video_streams = size * (size - 1)
    if len(video) < expected_video_streams:  # a stream that never arrived counts as 0 fps
        fps += [0.0] * (expected_video_streams - len(video))
    return Result(
        participants=size,
        video_streams=expected_video_streams,
        packets_forwarded=sum(s.packets for s in streams),
        sfu_cpu_seconds=cpu,
        seconds=seconds,
        min_fps=min(fps),
        median_fps=statistics.median(fps),
        max_loss=max(losses),
        latency_p50_ms=latencies[len(latencies) // 2],
        latency_p95_ms=latencies[int(len(latencies) * 0.95)],
        late_sends=window.late_sends,
        sfu_rss_mb=rss,
        join_to_first_frame_ms=first_frame_ms,
    )


FIRST_FRAME_JS = """(selector) => new Promise((resolve) => {
    const check = () => {
        const video = document.querySelector(selector + ' video');
        const session = window.meetingSession;
        if (video && video.videoWidth > 0 && session) {
            const now = performance.now();
            resolve([Math.round(now), Math.round(now - session.startedAt)]);
        } else {
            requestAnimationFrame(check);
        }
    };
    check();
})"""


@dataclass(frozen=True)
class BrowserJoins:
    """Chromium joining a meeting where someone already publishes, ``runs`` times."""

    page_to_frame_ms: list[float]  # page opened -> first remote video frame decoded
    session_to_frame_ms: list[float]  # room session started (join ticket in hand) -> frame


async def chromium_joins(
    url: str, users: list[tuple[str, str]], media: tuple[list[list[bytes]], bytes], runs: int = 10
) -> BrowserJoins:
    """Median of ``runs`` Chromium joins into a meeting where a generator participant already
    publishes camera and microphone (the web client of ``make web``, a fake camera)."""
    from playwright.async_api import async_playwright

    from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS

    (host_token, host_id), (_, guest_id) = users[0], users[1]
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {host_token}"}
        created = await client.post("/api/v1/meetings", headers=headers, json={"title": "first"})
        meeting_id = created.json()["id"]
        invited = await client.post(
            f"/api/v1/meetings/{meeting_id}/invites", headers=headers, json={"user_id": guest_id}
        )
        invited.raise_for_status()
        ticket = await client.post(f"/api/v1/meetings/{meeting_id}/join", headers=headers, json={})
        ticket.raise_for_status()
        publisher = LoadParticipant(0, Window(), media)
        await publisher.join(ticket.json(), url)
        page_ms: list[float] = []
        session_ms: list[float] = []
        args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=args
                )
                context = await browser.new_context(base_url=url)
                page = await context.new_page()
                await page.goto("/")
                await page.get_by_label("Username or email").fill("bench01")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_load_state("networkidle")
                await page.close()
                tile = f'[data-testid="tile"][data-user-id="{host_id}"][data-source="camera"]'
                for _ in range(runs):
                    page = await context.new_page()
                    await page.goto(f"/join/{meeting_id}")
                    from_page, from_session = await asyncio.wait_for(
                        page.evaluate(FIRST_FRAME_JS, tile), 20
                    )
                    page_ms.append(from_page)
                    session_ms.append(from_session)
                    await page.close()
                    await asyncio.sleep(1.0)  # the node notices the departure
                await browser.close()
        finally:
            await publisher.close()
            await client.post(f"/api/v1/meetings/{meeting_id}/end", headers=headers)
    return BrowserJoins(page_to_frame_ms=page_ms, session_to_frame_ms=session_ms)


def report(results: list[Result], joins: BrowserJoins, sfu_cpu: str, generator_cpu: str) -> str:
    passing = [r for r in results if r.ok]
    largest = max((r.participants for r in passing), default=0)
    best = max(results, key=lambda r: r.packets_per_cpu_second)
    lines = [
        "## SFU (media plane)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()} by `make bench-sfu`.",
        f"`meeting serve` (embedded defaults) pinned to CPU {sfu_cpu}; the load generator "
        f"(`scripts/bench_sfu.py`) on CPU {generator_cpu}. Every participant publishes VP8 "
        f"640x480 at {FPS} fps (~{VIDEO_BITRATE // 1000} kbit/s, pre-encoded) plus Opus and "
        "receives everyone else, over ICE/DTLS/SRTP on loopback. "
        f"Each size: {WARMUP:.0f} s warm-up, {WINDOW:.0f} s measured.",
        "",
        f"- **Forwarded packets per SFU CPU-second: {best.packets_per_cpu_second:,.0f}** "
        f"(target ≥ {TARGET_PACKETS_PER_CPU_SECOND:,}; at {best.participants} participants).",
        f"- **Largest meeting with every video ≥ {MIN_FPS:.0f} fps and < 1 % loss: "
        f"{largest} participants** ({largest * (largest - 1)} video + as many audio streams).",
        f"- **Chromium join → first remote frame: median "
        f"{statistics.median(joins.page_to_frame_ms):.0f} ms** from opening the meeting link "
        f"(page load, join API, signaling, both peer connections, first decoded frame; "
        f"range {min(joins.page_to_frame_ms):.0f}-{max(joins.page_to_frame_ms):.0f} ms over "
        f"{len(joins.page_to_frame_ms)} joins; target ≤ 800 ms); median "
        f"{statistics.median(joins.session_to_frame_ms):.0f} ms from the room session's start "
        "(join ticket in hand).",
        "",
        "| participants | forwarded pkt/s | SFU CPU | pkt per CPU-s | video fps min / median "
        "| max loss | latency p50 / p95 | first remote frame | SFU RSS | generator late frames |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.participants} | {r.packets_forwarded / r.seconds:,.0f} "
            f"| {100 * r.sfu_cpu_seconds / r.seconds:.0f} % | {r.packets_per_cpu_second:,.0f} "
            f"| {r.min_fps:.1f} / {r.median_fps:.1f} | {100 * r.max_loss:.2f} % "
            f"| {r.latency_p50_ms:.1f} / {r.latency_p95_ms:.1f} ms "
            f"| {r.join_to_first_frame_ms:.0f} ms | {r.sfu_rss_mb:.0f} MiB | {r.late_sends} |"
        )
    lines += [
        "",
        "Latency is publisher send → subscriber receive of a frame's last packet through the "
        'SFU (no capture, encode or decode: those belong to the browser). "First remote '
        "frame\" is the median over the meeting's participants of join API call → first "
        "complete video frame from anyone, for these generator clients (not a browser). "
        '"Generator late frames" counts frames the generator itself sent over 5 ms late: '
        "when it is high the generator's core, not the SFU, was the limit.",
    ]
    return "\n".join(lines) + "\n"


def write_report(section: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"## SFU \(media plane\)\n.*?(?=\n## |\Z)", re.DOTALL)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    REPORT.write_text(text.rstrip() + "\n")


async def bench(url: str, sfu_pid: int) -> tuple[list[Result], BrowserJoins]:
    media = pre_encode()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        users = [await register(client, f"bench{i:02d}") for i in range(max(max(SIZES), 2))]
    joins = await chromium_joins(url, users, media)
    page, session = joins.page_to_frame_ms, joins.session_to_frame_ms
    print(
        f"Chromium join -> first remote frame: median {statistics.median(page):.0f} ms from page"
        f" open, {statistics.median(session):.0f} ms from session start: {page}",
        flush=True,
    )
    results: list[Result] = []
    for size in SIZES:
        result = await run_meeting(url, users, size, media, sfu_pid)
        results.append(result)
        print(
            f"{size:2} participants: {result.packets_forwarded / result.seconds:8,.0f} pkt/s "
            f"SFU CPU {100 * result.sfu_cpu_seconds / result.seconds:5.1f} % "
            f"{result.packets_per_cpu_second:8,.0f} pkt/CPU-s  fps min {result.min_fps:5.1f}  "
            f"loss {100 * result.max_loss:5.2f} %  p50 {result.latency_p50_ms:5.1f} ms  "
            f"p95 {result.latency_p95_ms:5.1f} ms  first frame {result.join_to_first_frame_ms:4.0f}"
            f" ms  late {result.late_sends}",
            flush=True,
        )
        if not result.ok and result.late_sends == 0:
            break  # the SFU's limit is found
        if result.late_sends > size * FPS:  # the generator's core is the limit now
            break
        await asyncio.sleep(2)
    return results, joins


def main() -> None:
    sfu_cpu, generator_cpu = cpu_set()
    os.sched_setaffinity(0, {int(generator_cpu)})
    with tempfile.TemporaryDirectory(prefix="meeting-bench-sfu-") as work:
        port = 19800 + secrets.randbelow(1000)
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PORT": str(port),
            "DATA_DIR": str(Path(work) / "var"),
            "ICE_HOST_ADDRESSES": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "8192",
            **{
                f"RATE_LIMIT_{name}": "100000000/60"
                for name in ("LOGIN", "LOGIN_IP", "REGISTER", "REFRESH")
            },
        }
        log = Path(work) / "gateway.log"
        server = subprocess.Popen(
            ["taskset", "-c", sfu_cpu, sys.executable, "-m", "meeting_launcher.cli", "serve",
             "--migrate"],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_healthy(url, server, log)
            results, joins = asyncio.run(bench(url, server.pid))
        finally:
            server.terminate()
            server.wait(30)
    write_report(report(results, joins, sfu_cpu, generator_cpu))
    print(f"\nwritten to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
