"""A signaling client for tests: one participant's socket on a live server, and the REST calls
that lead to it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.api import Api, UserSession


class Peer:
    """A signaling client: one participant's socket."""

    def __init__(self, socket: ClientConnection, user: UserSession) -> None:
        self.socket = socket
        self.user = user

    async def send(self, **frame: Any) -> None:
        await self.socket.send(json.dumps(frame, default=str))

    async def next(self, kind: str | None = None, seconds: float = 5.0) -> dict[str, Any]:
        """The next frame (of ``kind``, skipping others)."""
        async with asyncio.timeout(seconds):
            while True:
                frame: dict[str, Any] = json.loads(await self.socket.recv())
                if kind is None or frame["type"] == kind:
                    return frame

    async def closed_with(self) -> int:
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                while True:
                    await self.socket.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code


async def join_rest(user: UserSession, meeting_id: str, **body: Any) -> dict[str, Any]:
    response = await user.client.post(f"/api/v1/meetings/{meeting_id}/join", json=body)
    assert response.status_code == 200, response.text
    joined: dict[str, Any] = response.json()
    return joined


async def connect_peer(api: Api, user: UserSession, meeting_id: str) -> tuple[Peer, dict[str, Any]]:
    ticket = await join_rest(user, meeting_id)
    socket = await connect(ticket["signaling_url"], origin=api.server.url)  # type: ignore[arg-type]
    peer = Peer(socket, user)
    await peer.send(type="join", v=1, token=ticket["join_token"])
    snapshot = await peer.next()
    assert snapshot["type"] == "joined", snapshot
    return peer, snapshot


async def invite(host: UserSession, meeting_id: str, *users: UserSession) -> None:
    for user in users:
        invited = await host.client.post(
            f"/api/v1/meetings/{meeting_id}/invites", json={"user_id": str(user.id)}
        )
        assert invited.status_code == 201
