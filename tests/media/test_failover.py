"""Two media nodes: when the one hosting a room dies, its participants rejoin on the other."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from meeting_shared.settings import MediaNode
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.api import Api, UserSession
from tests.support.databases import separate_redis_db
from tests.support.live_server import LiveServer, production_settings, start_live_server
from tests.support.media_client import MediaPeer, PatternTrack, ToneTrack

pytestmark = pytest.mark.integration


def _on(server: LiveServer, user: UserSession) -> UserSession:
    """The same signed-in user, talking to ``server``'s API."""
    client = httpx.AsyncClient(base_url=server.url, timeout=30)
    client.headers["Authorization"] = f"Bearer {user.access_token}"
    return UserSession(
        id=user.id,
        username=user.username,
        email=user.email,
        password=user.password,
        access_token=user.access_token,
        refresh_token=user.refresh_token,
        client=client,
    )


async def _rejoin(api: Api, user: UserSession, meeting_id: str, dead: str) -> MediaPeer:
    """Join again until the meeting function places the room on a live node."""
    async with asyncio.timeout(15):
        while True:
            ticket = await user.client.post(f"/api/v1/meetings/{meeting_id}/join", json={})
            assert ticket.status_code == 200, ticket.text
            if not ticket.json()["signaling_url"].startswith(dead):
                return await MediaPeer.join(api, user, meeting_id)
            await asyncio.sleep(0.25)  # the dead node is not stale yet


async def test_participants_move_to_a_live_node_when_theirs_dies(
    migrated_postgres: str, redis_url: str, s3_config: S3Config, tmp_path: Path
) -> None:
    ports = {"node-a": free_port(), "node-b": free_port()}
    urls = {node: f"http://127.0.0.1:{port}" for node, port in ports.items()}
    nodes = [
        MediaNode(id=node, signaling_url=f"ws://127.0.0.1:{port}/ws/signaling")
        for node, port in ports.items()
    ]
    shared: dict[str, Any] = {
        "jwt_secret": secrets.token_urlsafe(48),
        "media_nodes": nodes,
        "allowed_origins": list(urls.values()),
        "media_node_heartbeat_seconds": 0.3,
        "media_node_stale_seconds": 1.5,
    }
    servers: dict[str, tuple[LiveServer, Any]] = {}
    for node, port in ports.items():
        settings = production_settings(
            postgres_url=migrated_postgres,
            redis_url=separate_redis_db(redis_url, 2),
            s3=s3_config,
            data_dir=tmp_path / node,
            port=port,
            node_id=node,
            **shared,
        )
        servers[node] = await start_live_server(settings)
    await asyncio.sleep(0.5)  # both nodes have beaten
    peers: list[MediaPeer] = []
    apis: list[Api] = []
    try:
        first = Api(servers["node-a"][0])
        apis.append(first)
        host, guest = await first.user("failover_host"), await first.user("failover_guest")
        meeting = await first.meeting(host)
        await host.client.post(
            f"/api/v1/meetings/{meeting['id']}/invites", json={"user_id": str(guest.id)}
        )
        alice = await MediaPeer.join(first, host, meeting["id"])
        peers.append(alice)
        hosting = next(
            n for n, url in urls.items() if alice.signaling_url.startswith("ws" + url[4:])
        )
        survivor = "node-b" if hosting == "node-a" else "node-a"
        api = Api(servers[survivor][0])
        apis.append(api)
        host_there, guest_there = _on(api.server, host), _on(api.server, guest)
        bob = await MediaPeer.join(api, guest_there, meeting["id"])
        peers.append(bob)
        for peer in (alice, bob):
            await peer.publish((ToneTrack(), "microphone"), (PatternTrack(), "camera"))
        assert await bob.wait_for_frames(host, "camera", 5) >= 5

        await servers.pop(hosting)[1]()  # the hosting node dies
        for peer in (alice, bob):
            await peer.wait_closed()
        dead = urls[hosting].replace("http", "ws")
        alice = await _rejoin(api, host_there, meeting["id"], dead)
        bob = await _rejoin(api, guest_there, meeting["id"], dead)
        peers += [alice, bob]
        assert alice.signaling_url.startswith(urls[survivor].replace("http", "ws"))
        for peer in (alice, bob):
            await peer.publish((ToneTrack(), "microphone"), (PatternTrack(), "camera"))
        assert await bob.wait_for_frames(host, "camera", 10) >= 10
        assert await alice.wait_for_frames(guest, "camera", 10) >= 10
    finally:
        for peer in peers:
            await peer.close()
        for api in apis:
            await api.aclose()
        for _, stop in servers.values():
            await stop()
