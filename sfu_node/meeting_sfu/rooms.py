"""Live rooms on this node: the open connections, and their presence in the state store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketState

from meeting_sfu.protocol import FRAME_BURST, FRAME_RATE, CloseCode
from meeting_shared.enums import UserRole
from meeting_shared.services.actors import Actor
from meeting_shared.services.rooms import ParticipantInfo, presence_key
from meeting_shared.state import StateStore

if TYPE_CHECKING:
    from meeting_sfu.media.session import MediaRoom, MediaSession

logger = logging.getLogger(__name__)

OUTBOX_LIMIT = 256  # frames queued for one client before it counts as too slow
CLOSE_TIMEOUT = 5.0  # seconds a socket gets to take what precedes its close frame, and the close
PRESENCE_TTL = 6 * 3600.0


class FrameBudget:
    """A token bucket over the frames one client sends: ``burst`` at once, then ``rate`` a
    second; ``refused`` counts the frames refused since the last one let through."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._at = clock()
        self.refused = 0

    def take(self) -> bool:
        """Whether one more frame may be handled now."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self.refused = 0
            return True
        self.refused += 1
        return False


class Connection:
    """One participant's socket. Frames go out through a queue and one writer task, so a slow
    client never blocks the sender; once its queue is full the node drops it (``receive``
    ends at once and the socket is closed with 4429 when it can take the close)."""

    def __init__(self, websocket: WebSocket, info: ParticipantInfo, meeting_id: uuid.UUID) -> None:
        self.websocket = websocket
        self.info = info
        self.meeting_id = meeting_id
        self.closing_reason: str | None = None
        self.media: MediaSession | None = None
        self.budget = FrameBudget(FRAME_RATE, FRAME_BURST)
        self._outbox: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue(OUTBOX_LIMIT)
        self._writer = asyncio.create_task(self._write(), name=f"signaling-writer-{info.user_id}")
        self._dropped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closer: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.info.user_id

    @property
    def actor(self) -> Actor:
        """Whom the socket acts for in the domain services: the participant (it holds no login
        session of its own)."""
        return Actor(user_id=self.user_id, role=UserRole.USER, session_id=self.info.participant_id)

    async def receive(self) -> Message | None:
        """The client's next message; None once the node dropped the client. Waiting here also
        lets the writers run between two frames of a burst, so that what one frame queued for
        others is on its way before the next is handled."""
        if self._dropped.done():
            return None
        receiving = asyncio.ensure_future(self.websocket.receive())
        await asyncio.wait((receiving, self._dropped), return_when=asyncio.FIRST_COMPLETED)
        if self._dropped.done():
            receiving.cancel()
            return None
        return receiving.result()

    def send(self, frame: BaseModel) -> None:
        try:
            self._outbox.put_nowait(frame.model_dump_json())
        except asyncio.QueueFull:
            self._drop(CloseCode.TOO_SLOW, "too slow")

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code`` (idempotent)."""
        if self.closing_reason is not None:
            return
        self.closing_reason = reason
        try:
            self._outbox.put_nowait((code, reason))
        except asyncio.QueueFull:  # no room to close politely
            self._drop(code, reason)

    def _drop(self, code: int, reason: str) -> None:
        """Stop serving a client that does not take its frames: ``receive`` lets go now and the
        close is sent as soon as the socket can take it (given up after ``CLOSE_TIMEOUT``)."""
        if self._dropped.done():
            return
        if self.closing_reason is None:
            self.closing_reason = reason
        self._dropped.set_result(None)
        self._writer.cancel()
        self._closer = asyncio.get_running_loop().create_task(self._close_now(code, reason))

    async def _write(self) -> None:
        while True:
            item = await self._outbox.get()
            if isinstance(item, tuple):
                await self._close_now(*item)
                return
            try:
                await self.websocket.send_text(item)
            except Exception:  # the client went away; the reader notices and cleans up
                return

    async def _close_now(self, code: int, reason: str) -> None:
        if self.websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):  # gone, or not reading (TimeoutError)
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self.websocket.close(code=code, reason=reason)

    async def finish(self) -> None:
        """The connection is over: a close the node queued is sent first (bounded), then the
        writer stops."""
        if self.closing_reason is not None and self._closer is None:
            await asyncio.wait((self._writer,), timeout=CLOSE_TIMEOUT)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if self._closer is not None:
            await self._closer


MediaRoomFactory = Callable[["Room"], "MediaRoom"]


class Room:
    def __init__(self, meeting_id: uuid.UUID, media: MediaRoomFactory) -> None:
        self.meeting_id = meeting_id
        self.connections: dict[uuid.UUID, Connection] = {}
        self.media = media(self)

    def broadcast(self, frame: BaseModel, *, skip: uuid.UUID | None = None) -> None:
        for user_id, connection in list(self.connections.items()):
            if user_id != skip:
                connection.send(frame)

    def others(self, user_id: uuid.UUID) -> list[ParticipantInfo]:
        return [c.info for uid, c in self.connections.items() if uid != user_id]


class RoomRegistry:
    """The rooms hosted by this node, mirrored into the state store for REST and other nodes."""

    def __init__(self, state: StateStore, node_id: str, media: MediaRoomFactory) -> None:
        self._state = state
        self.node_id = node_id
        self.rooms: dict[uuid.UUID, Room] = {}
        self._media = media

    def room(self, meeting_id: uuid.UUID) -> Room:
        room = self.rooms.get(meeting_id)
        if room is None:
            room = self.rooms[meeting_id] = Room(meeting_id, self._media)
        return room

    def connection(self, meeting_id: uuid.UUID, user_id: uuid.UUID) -> Connection | None:
        room = self.rooms.get(meeting_id)
        return room.connections.get(user_id) if room else None

    def connections_of(self, user_id: uuid.UUID) -> list[Connection]:
        return [
            c
            for room in self.rooms.values()
            for uid, c in room.connections.items()
            if uid == user_id
        ]

    async def enter(self, connection: Connection) -> Connection | None:
        """Seat ``connection``; returns the connection it replaces (same person, older socket)."""
        room = self.room(connection.meeting_id)
        replaced = room.connections.get(connection.user_id)
        room.connections[connection.user_id] = connection
        await self.publish(connection)
        return replaced

    async def publish(self, connection: Connection) -> None:
        await self._state.hash_set(
            presence_key(connection.meeting_id),
            str(connection.user_id),
            connection.info.model_dump_json(),
            ttl=PRESENCE_TTL,
        )

    async def leave(self, connection: Connection) -> bool:
        """Unseat ``connection`` if it is still the current one; True when it was."""
        room = self.rooms.get(connection.meeting_id)
        if room is None or room.connections.get(connection.user_id) is not connection:
            return False
        del room.connections[connection.user_id]
        if not room.connections:
            del self.rooms[connection.meeting_id]
        await self._state.hash_delete(presence_key(connection.meeting_id), str(connection.user_id))
        return True
