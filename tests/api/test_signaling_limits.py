"""What one client sends cannot push the others out: inbound frames are limited per connection,
bursts reach everyone's writers, and only a client that does not read is dropped. On both the
embedded server (SQLite, in-process state: nothing to wait on between two frames) and the
production-shaped one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from meeting_sfu.ai import ANNOUNCEMENT_URL_TTL, ANNOUNCEMENTS_PENDING
from meeting_sfu.protocol import FRAME_BURST, FRAME_RATE, CloseCode
from tests.api.signaling_client import connect_peer, invite, join_rest
from tests.harness.ports import free_port
from tests.support.api import Api, UserSession
from tests.support.databases import separate_redis_db
from tests.support.live_server import LiveServer, production_settings, start_live_server

if TYPE_CHECKING:
    from tests.harness.seaweedfs import S3Config

pytestmark = pytest.mark.integration


@pytest.fixture(params=["embedded", "production"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    # The embedded backends, as `make run` keeps them: tests/api/conftest.py's SQLite gateway.
    name = "sqlite_server" if request.param == "embedded" else "live_server"
    live: LiveServer = request.getfixturevalue(name)
    return live


@pytest.fixture
async def api(server: LiveServer) -> AsyncIterator[Api]:
    helper = Api(server)
    yield helper
    await helper.aclose()


class Listener:
    """A participant that reads everything the node sends, as a well-behaved client does."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []  # everything, in order
        self.closed_with: int | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.socket:
                frame = json.loads(text)
                self.seen.append(frame)
                await self.frames.put(frame)
        except ConnectionClosed:
            pass
        self.closed_with = self.socket.close_code

    async def next(self, kind: str, seconds: float = 10.0, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(seconds):
            while True:
                frame = await self.frames.get()
                if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return frame

    async def ping(self, ping_id: str) -> None:
        """Ping and wait for the answer: everything sent before it has been read."""
        await self.socket.send(json.dumps({"type": "ping", "id": ping_id}))
        await self.next("pong", id=ping_id)

    async def ended(self, seconds: float = 10.0) -> int | None:
        async with asyncio.timeout(seconds):
            await asyncio.shield(self._reader)
        return self.closed_with

    async def aclose(self) -> None:
        await self.socket.close()
        with contextlib.suppress(TimeoutError):
            await self.ended()


async def _listener(api: Api, user: UserSession, meeting_id: str) -> Listener:
    peer, _ = await connect_peer(api, user, meeting_id)
    return Listener(peer.socket)


async def test_a_burst_from_one_participant_leaves_the_others_connected(api: Api) -> None:
    host, noisy, quiet = await api.user("host"), await api.user("noisy"), await api.user("quiet")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], noisy, quiet)
    listeners = [await _listener(api, user, meeting["id"]) for user in (host, quiet)]
    flooder = await _listener(api, noisy, meeting["id"])

    # About 16 KB of frames at once, far more than a client sends in normal use.
    burst = [json.dumps({"type": "raise_hand", "raised": i % 2 == 0}) for i in range(400)]
    for text in burst:
        await flooder.socket.send(text)

    refused = await flooder.next("error", code="rate_limited")
    assert "in_reply_to" in refused and "a second" in refused["message"]
    assert await flooder.ended() == CloseCode.TOO_MANY_FRAMES
    for number, listener in enumerate(listeners):
        left = await listener.next("participant_left", user_id=str(noisy.id))
        assert left["reason"] == "disconnected"
        await listener.ping(f"still-here-{number}")  # read all of it, and still served
        assert listener.closed_with is None
    # What the node did take of the burst reached everyone, at most a burst of it.
    updates = [
        frame
        for frame in listeners[1].seen
        if frame["type"] == "participant_updated"
        and frame["participant"]["user_id"] == str(noisy.id)
    ]
    assert 0 < len(updates) <= FRAME_BURST + 10
    people = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/participants")).json()
    assert {p["user_id"]: p["state"] for p in people}[str(noisy.id)] == "left"
    for listener in listeners:
        await listener.aclose()


async def test_frames_within_the_limit_are_all_served(api: Api) -> None:
    host = await api.user("host")
    meeting = await api.meeting(host)
    listener = await _listener(api, host, meeting["id"])
    for number in range(FRAME_BURST // 2):
        await listener.socket.send(json.dumps({"type": "ping", "id": str(number)}))
    for number in range(FRAME_BURST // 2):
        assert (await listener.next("pong"))["id"] == str(number)
    await listener.ping("last")
    assert listener.closed_with is None
    await listener.aclose()


@contextlib.contextmanager
def _small_receive_buffer(url: str) -> Iterator[socket.socket]:
    """A TCP connection to the node with a tiny receive buffer: a client that stops reading
    fills it (and the node's buffers) quickly."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect((host, int(port)))
        yield sock
    finally:
        sock.close()


async def test_a_client_that_does_not_read_is_dropped(live_server: LiveServer) -> None:
    api = Api(live_server)  # the same on both backends: one is enough for this slow test
    host, slow = await api.user("host"), await api.user("slow")
    talkers = [await api.user(f"talker{n}") for n in range(6)]
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], slow, *talkers)
    watcher = await _listener(api, host, meeting["id"])
    ticket = await join_rest(slow, meeting["id"])
    with _small_receive_buffer(ticket["signaling_url"]) as sock:
        stuck = await connect(
            ticket["signaling_url"],
            sock=sock,
            origin=api.server.url,  # type: ignore[arg-type]
            compression=None,
            max_queue=1,
        )
        await stuck.send(json.dumps({"type": "join", "token": ticket["join_token"]}))
        assert json.loads(await stuck.recv())["type"] == "joined"
        # From now on it reads nothing. The others talk, within their frame budgets: long
        # messages (16 KB of JSON each, several MB in all to fill the buffers on the way).
        senders = [await _listener(api, user, meeting["id"]) for user in talkers]
        gone = watcher.next("participant_left", seconds=60, user_id=str(slow.id))
        left = asyncio.create_task(gone)
        body = "\N{GRINNING FACE}" * 3990
        sent = 0
        async with asyncio.timeout(60):
            while not left.done():
                for sender in senders:
                    await sender.socket.send(json.dumps({"type": "chat", "body": f"{sent} {body}"}))
                sent += 1
                if sent >= FRAME_BURST // 2:
                    await asyncio.sleep(1 / FRAME_RATE)
        assert (await left)["reason"] == "disconnected"
        for number, sender in enumerate(senders):
            await sender.ping(f"alive-{number}")
            assert sender.closed_with is None
        room = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/room")).json()
        assert str(slow.id) not in [p["user_id"] for p in room["participants"]]
        # Reading again, it gets what was on its way, then the end of the connection.
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(30):
                while True:
                    await stuck.recv()
    for listener in (watcher, *senders):
        await listener.aclose()
    await api.aclose()


async def test_participant_left_says_whether_someone_left_or_dropped(api: Api) -> None:
    host, leaver, dropper = await api.user("host"), await api.user("leaver"), await api.user("drop")
    meeting = await api.meeting(host)
    await invite(host, meeting["id"], leaver, dropper)
    watcher = await _listener(api, host, meeting["id"])
    leaving = await _listener(api, leaver, meeting["id"])
    dropping = await _listener(api, dropper, meeting["id"])

    await leaving.socket.close()  # a close frame with 1000
    left = await watcher.next("participant_left", user_id=str(leaver.id))
    assert left["reason"] == "left"
    dropping.socket.transport.abort()  # the connection is lost, no close frame
    dropped = await watcher.next("participant_left", user_id=str(dropper.id))
    assert dropped["reason"] == "disconnected"
    people = (await host.client.get(f"/api/v1/meetings/{meeting['id']}/participants")).json()
    states = {p["user_id"]: p["state"] for p in people}
    assert (states[str(leaver.id)], states[str(dropper.id)]) == ("left", "left")
    await watcher.aclose()


@pytest.fixture
async def ai_limited_api(
    migrated_postgres: str, redis_url: str, s3_config: S3Config, tmp_path: Path
) -> AsyncIterator[Api]:
    """A gateway allowing 2 AI calls a minute, with no AI node (announcements are written)."""
    settings = production_settings(
        postgres_url=migrated_postgres,
        redis_url=separate_redis_db(redis_url, 8),  # no AI node announces itself here
        s3=s3_config,
        data_dir=tmp_path,
        port=free_port(),
        rate_limit_ai="2/60",
    )
    server, stop = await start_live_server(settings)
    helper = Api(server)
    try:
        yield helper
    finally:
        await helper.aclose()
        await stop()


async def test_announcements_count_against_the_ai_limit(ai_limited_api: Api) -> None:
    host = await ai_limited_api.user("announcer")
    meeting = await ai_limited_api.meeting(host)
    listener = await _listener(ai_limited_api, host, meeting["id"])
    for number in range(2):
        await listener.socket.send(json.dumps({"type": "announce", "text": f"notice {number}"}))
        heard = await listener.next("announcement")
        assert (heard["text"], heard["audio_url"]) == (f"notice {number}", None)
    await listener.socket.send(json.dumps({"type": "announce", "text": "one too many"}))
    refused = await listener.next("error")
    assert (refused["code"], refused["in_reply_to"]) == ("rate_limited", "announce")
    # The same limit as the REST AI calls: it is used up there too.
    response = await host.client.post("/api/v1/ai/emotion", json={"text": "hello"})
    assert response.status_code == 429, response.text
    await listener.aclose()


async def test_spoken_announcements_are_deleted_once_their_urls_expired(
    live_server: LiveServer,
) -> None:
    container = live_server.container
    node_ai = live_server.app.state.signaling.ai
    key = f"announcements/{uuid.uuid4()}/{uuid.uuid4()}.wav"
    url = await node_ai.store_spoken(key, b"RIFF....WAVEfmt ")
    assert await container.blobs.head(key) is not None
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content.startswith(b"RIFF")

    assert await node_ai.sweep_announcements() == 0  # its URL is still valid
    assert await container.blobs.head(key) is not None
    later = time.time() + ANNOUNCEMENT_URL_TTL + 1
    assert await node_ai.sweep_announcements(now=later) >= 1
    assert await container.blobs.head(key) is None
    assert key not in await container.state.hash_get_all(ANNOUNCEMENTS_PENDING)
