"""An aiortc participant for tests: signaling socket, a publishing and a subscribing connection.

Unlike the SFU it is an ordinary WebRTC endpoint: it encodes what it sends and decodes what it
receives, so a decoded frame proves the SFU forwarded something a real decoder accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.sdp import SessionDescription
from av import AudioFrame, VideoFrame
from websockets.asyncio.client import ClientConnection, connect

from meeting_sfu.media import webrtc
from tests.support.api import Api, UserSession
from tests.support.speech import espeak_speech

SAMPLE_RATE = 48000
AUDIO_FRAME = 960  # 20 ms at 48 kHz, what a browser's Opus encoder sends per packet


@functools.cache
def speech(text: str, rate: int = SAMPLE_RATE) -> npt.NDArray[np.float32]:
    """``text`` spoken by espeak-ng as mono float samples at ``rate``, without the silence the
    synthesizer adds around it (cached: the array is read-only)."""
    samples = espeak_speech(text, rate)
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    trimmed: npt.NDArray[np.float32] = samples[loud[0] : loud[-1] + 1]
    trimmed.flags.writeable = False
    return trimmed


class SpeechTrack(AudioStreamTrack):
    """Silence until ``play()``, then ``samples`` (mono float, 48 kHz) once, then silence again,
    in real time, 20 ms a frame. ``played_at`` is the wall time the first sample went out."""

    def __init__(self, samples: npt.NDArray[np.float32]) -> None:
        super().__init__()
        pcm = np.clip(samples, -1.0, 1.0) * 32767
        self.pcm = pcm.astype(np.int16)
        self.played_at: float | None = None
        self.playing = asyncio.Event()  # set when the first sample went out
        self._play = False
        self._position = 0  # in ``pcm``
        self._sent = 0  # samples sent since the first frame
        self._began = 0.0

    def play(self) -> None:
        self._play = True

    def say(self, samples: npt.NDArray[np.float32]) -> None:
        """Play other ``samples`` now (after the current ones): one track, many utterances."""
        self.pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        self._position = 0
        self.played_at = None
        self.playing.clear()
        self._play = True

    @property
    def ended_at(self) -> float | None:
        """Wall time of the last sample (once playing)."""
        if self.played_at is None:
            return None
        return self.played_at + len(self.pcm) / SAMPLE_RATE

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._sent == 0:
            self._began = time.time()
        else:
            await asyncio.sleep(max(0.0, self._began + self._sent / SAMPLE_RATE - time.time()))
        chunk = np.zeros(AUDIO_FRAME, dtype=np.int16)
        if self._play and self._position < len(self.pcm):
            if self.played_at is None:
                self.played_at = time.time()
                self.playing.set()
            part = self.pcm[self._position : self._position + AUDIO_FRAME]
            chunk[: len(part)] = part
            self._position += len(part)
        frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sent += AUDIO_FRAME
        return frame


class PictureTrack(VideoStreamTrack):
    """The same picture (an RGB array) at 30 frames a second."""

    def __init__(self, image: npt.NDArray[np.uint8]) -> None:
        super().__init__()
        self.image = image

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone (or silence): loud enough to count as speech in audio levels."""

    def __init__(self, loud: bool = True) -> None:
        super().__init__()
        self.loud = loud
        self._sample = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()  # paced: one 20 ms frame (of 8 kHz silence) each time
        assert isinstance(frame, AudioFrame)
        if self.loud:
            samples = AUDIO_FRAME  # the same 20 ms at 48 kHz
            t = (np.arange(samples) + self._sample) / SAMPLE_RATE
            tone = (8000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
            frame = AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = self._sample
            frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sample += frame.samples
        return frame


class PatternTrack(VideoStreamTrack):
    """A small frame whose colour changes over time, so decoded frames differ."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.size = (height, width)
        self._count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._count += 1
        image = np.full((*self.size, 3), (self._count * 3) % 256, dtype=np.uint8)
        image[:, : self._count % self.size[1]] = 255
        frame = VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def _peer(ice_servers: list[dict[str, Any]], relay_only: bool) -> RTCPeerConnection:
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in ice_servers
    ]
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    webrtc.end_consent_checks_on_close()  # the same aioice race as on the node's side
    return RTCPeerConnection(
        RTCConfiguration(
            iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE, iceTransportPolicy=policy
        )
    )


class MediaPeer:
    """One participant with media. ``frames`` counts decoded frames per sending user and source."""

    def __init__(
        self,
        socket: ClientConnection,
        user: UserSession,
        snapshot: dict[str, Any],
        relay_only: bool = False,
        signaling_url: str = "",
    ) -> None:
        self.relay_only = relay_only
        self.signaling_url = signaling_url
        self.socket = socket
        self.user = user
        self.snapshot = snapshot
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        self.frames: dict[tuple[str, str], int] = defaultdict(int)
        self._frame_arrived = asyncio.Event()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming: dict[str, dict[str, Any]] = {}  # mid -> track description
        self._offer_sdp = ""
        self._sources: dict[str | None, str] = {}
        self._published_answer: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def join(
        cls, api: Api, user: UserSession, meeting_id: str, *, relay_only: bool = False
    ) -> MediaPeer:
        response = await user.client.post(f"/api/v1/meetings/{meeting_id}/join", json={})
        assert response.status_code == 200, response.text
        ticket = response.json()
        async with asyncio.timeout(10):
            socket = await connect(ticket["signaling_url"], origin=api.server.url)  # type: ignore[arg-type]
            await socket.send(json.dumps({"type": "join", "v": 1, "token": ticket["join_token"]}))
            snapshot = json.loads(await socket.recv())
        assert snapshot["type"] == "joined", snapshot
        return cls(socket, user, snapshot, relay_only, ticket["signaling_url"])

    async def send(self, **frame: Any) -> None:
        await self.socket.send(json.dumps(frame, default=str))

    async def publish(
        self, *tracks: tuple[MediaStreamTrack, str], video_codec: str | None = None
    ) -> None:
        """Publish (track, source) pairs and wait for the SFU's answer; ``video_codec`` (a MIME
        type) restricts what video is offered, as a browser preferring it would."""
        if self.publisher is None:
            self.publisher = _peer(self.snapshot["ice_servers"], self.relay_only)
        added = [(self.publisher.addTransceiver(t, direction="sendonly"), s) for t, s in tracks]
        if video_codec is not None:
            for transceiver, _ in added:
                if transceiver.kind == "video":
                    capabilities = RTCRtpSender.getCapabilities("video").codecs
                    transceiver.setCodecPreferences(
                        [c for c in capabilities if c.mimeType == video_codec]
                    )
        await self.renegotiate(added)

    async def renegotiate(self, added: list[tuple[Any, str]] | None = None) -> None:
        """Offer the publishing connection's current state to the SFU, wait for its answer."""
        assert self.publisher is not None
        pc = self.publisher
        async with asyncio.timeout(15):  # gathering candidates, then the node's answer
            await pc.setLocalDescription(await pc.createOffer())
            for transceiver, source in added or []:
                self._sources[transceiver.mid] = source
            self._published_answer = asyncio.get_running_loop().create_future()
            await self.send(
                type="publish_offer",
                sdp=pc.localDescription.sdp,
                tracks=[
                    {"mid": t.mid, "source": self._sources[t.mid]}
                    for t in pc.getTransceivers()
                    if t.direction == "sendonly"
                ],
            )
            await self._published_answer

    async def next(
        self,
        kind: str,
        where: Callable[[dict[str, Any]], bool] = lambda frame: True,
        seconds: float = 10.0,
    ) -> dict[str, Any]:
        """The next frame of ``kind`` (matching ``where``); frames before it are dropped."""
        async with asyncio.timeout(seconds):
            while True:
                frame = await self.inbox.get()
                if frame["type"] == kind and where(frame):
                    return frame

    def incoming_ssrc(self, user_id: str, source: str) -> int:
        """The SSRC the SFU announced for someone's track in its latest subscribe offer."""
        mid = next(
            mid
            for mid, track in self.incoming.items()
            if track["user_id"] == user_id and track["source"] == source
        )
        media = next(
            m for m in SessionDescription.parse(self._offer_sdp).media if m.rtp.muxId == mid
        )
        return int(media.ssrc[0].ssrc)

    def last_sequence(self, ssrc: int) -> int:
        """The highest RTP sequence number received on ``ssrc`` (read from aiortc's receiver)."""
        assert self.subscriber is not None
        for transceiver in self.subscriber.getTransceivers():
            streams = transceiver.receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
            if ssrc in streams:
                return int(streams[ssrc].max_seq)
        raise LookupError(ssrc)

    async def send_rtcp(self, packet: Any) -> None:
        """Send an RTCP packet to the SFU on the subscribing connection."""
        assert self.subscriber is not None
        transport = self.subscriber.getTransceivers()[0].receiver.transport
        await transport._send_rtp(bytes(packet))

    async def wait_for_frames(
        self, user: UserSession, source: str, count: int = 10, seconds: float = 15.0
    ) -> int:
        key = (str(user.id), source)
        async with asyncio.timeout(seconds):
            while self.frames[key] < count:
                self._frame_arrived.clear()
                await self._frame_arrived.wait()
        return self.frames[key]

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for text in self.socket:
                frame = json.loads(text)
                kind = frame["type"]
                if kind == "publish_answer" and self.publisher is not None:
                    answer = RTCSessionDescription(sdp=frame["sdp"], type="answer")
                    await self.publisher.setRemoteDescription(answer)
                    if self._published_answer and not self._published_answer.done():
                        self._published_answer.set_result(None)
                elif kind == "subscribe_offer":
                    await self._answer(frame)
                await self.inbox.put(frame)

    async def _answer(self, frame: dict[str, Any]) -> None:
        if self.subscriber is None:
            self.subscriber = _peer(self.snapshot["ice_servers"], self.relay_only)
            self.subscriber.on("track", self._on_track)
        self.incoming = {track["mid"]: track for track in frame["tracks"]}
        self._offer_sdp = frame["sdp"]
        await self.subscriber.setRemoteDescription(
            RTCSessionDescription(sdp=frame["sdp"], type="offer")
        )
        await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
        await self.send(type="subscribe_answer", sdp=self.subscriber.localDescription.sdp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.subscriber is not None
        mid = next(t.mid for t in self.subscriber.getTransceivers() if t.receiver.track is track)
        self._tasks.append(asyncio.create_task(self._count(track, mid)))

    async def _count(self, track: MediaStreamTrack, mid: str | None) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                described = self.incoming.get(mid or "")
                if described is not None:
                    self.frames[(described["user_id"], described["source"])] += 1
                    self._frame_arrived.set()

    async def wait_closed(self, seconds: float = 10.0) -> None:
        """Until the node closes the signaling socket."""
        async with asyncio.timeout(seconds):
            await self.socket.wait_closed()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        async with asyncio.timeout(15):
            with contextlib.suppress(Exception):
                await self.socket.close()
            self._reader.cancel()
            for pc in (self.publisher, self.subscriber):
                if pc is not None:
                    await pc.close()


class Meeting:
    """A meeting on a live server whose host invites guests and whose people join as MediaPeers."""

    def __init__(self, api: Api, meeting: dict[str, Any], host: UserSession) -> None:
        self.api = api
        self.id: str = meeting["id"]
        self.host = host
        self.peers: list[MediaPeer] = []

    async def guest(self, name: str) -> UserSession:
        user = await self.api.user(name)
        invited = await self.host.client.post(
            f"/api/v1/meetings/{self.id}/invites", json={"user_id": str(user.id)}
        )
        assert invited.status_code == 201, invited.text
        return user

    async def join(self, user: UserSession) -> MediaPeer:
        peer = await MediaPeer.join(self.api, user, self.id)
        self.peers.append(peer)
        return peer
