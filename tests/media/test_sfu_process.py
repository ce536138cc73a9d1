"""A standalone media node (``meeting sfu``'s app) beside a gateway that is no media node.

Each has its own container and so its own in-process event bus: whatever the API changes reaches
the node only through the outbox, as it would between two machines.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from meeting_sfu.app import create_sfu_app
from meeting_sfu.protocol import MAX_FRAME_BYTES
from meeting_shared.settings import MediaNode, Settings
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.api import Api
from tests.support.databases import separate_redis_db
from tests.support.live_server import production_settings, start_live_server
from tests.support.media_client import MediaPeer, PatternTrack, ToneTrack

pytestmark = pytest.mark.integration


async def _serve_node(settings: Settings) -> Callable[[], Awaitable[None]]:
    server = uvicorn.Server(
        uvicorn.Config(
            create_sfu_app(settings),
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            lifespan="on",
            ws_max_size=MAX_FRAME_BYTES,
        )
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)

    async def stop() -> None:
        server.should_exit = True
        await task

    return stop


@pytest.fixture(params=["outbox", "kafka"])
async def deployment(
    request: pytest.FixtureRequest,
    migrated_postgres: str,
    redis_url: str,
    s3_config: S3Config,
    tmp_path: Path,
) -> AsyncIterator[tuple[Api, str]]:
    """A gateway without a media node, and one standalone node; yields (api, node URL). Events
    reach the node through Kafka, or without Kafka by the node following the outbox."""
    gateway_port, node_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    node = MediaNode(id="sfu-1", signaling_url=f"ws://127.0.0.1:{node_port}/ws/signaling")
    shared: dict[str, Any] = {
        "postgres_url": migrated_postgres,
        "redis_url": separate_redis_db(redis_url, 3),
        "s3": s3_config,
        "jwt_secret": secrets.token_urlsafe(48),
        "media_nodes": [node],
        "allowed_origins": [gateway_url],
        "media_node_heartbeat_seconds": 0.5,
        "media_node_stale_seconds": 3,
    }
    if request.param == "kafka":
        shared["kafka_bootstrap_servers"] = request.getfixturevalue("kafka_bootstrap")
        shared["kafka_topic_prefix"] = f"t{uuid.uuid4().hex[:8]}."
    stop_node = await _serve_node(
        production_settings(data_dir=tmp_path / "node", port=node_port, node_id="sfu-1", **shared)
    )
    server, stop_gateway = await start_live_server(
        production_settings(
            data_dir=tmp_path / "gateway",
            port=gateway_port,
            embedded_media_node=False,
            **shared,
        )
    )
    api = Api(server)
    try:
        yield api, f"http://127.0.0.1:{node_port}"
    finally:
        await api.aclose()
        await stop_gateway()
        await stop_node()


async def test_a_standalone_node_forwards_and_obeys_the_api(deployment: tuple[Api, str]) -> None:
    api, node_url = deployment
    async with httpx.AsyncClient(base_url=node_url) as client:
        health = await client.get("/health")
        assert health.status_code == 200 and health.json()["node"] == "sfu-1"
    gateway_ws = await api.client.get("/ws/signaling")
    assert gateway_ws.status_code == 404  # the gateway is no media node here

    host, guest = await api.user("node_host"), await api.user("node_guest")
    meeting = await api.meeting(host)
    await host.client.post(
        f"/api/v1/meetings/{meeting['id']}/invites", json={"user_id": str(guest.id)}
    )
    alice = await MediaPeer.join(api, host, meeting["id"])
    bob = await MediaPeer.join(api, guest, meeting["id"])
    try:
        assert alice.signaling_url.startswith(node_url.replace("http", "ws"))
        for peer in (alice, bob):
            await peer.publish((ToneTrack(), "microphone"), (PatternTrack(), "camera"))
        assert await bob.wait_for_frames(host, "camera", 10) >= 10

        removed = await host.client.delete(
            f"/api/v1/meetings/{meeting['id']}/participants/{guest.id}"
        )
        assert removed.status_code == 204
        await bob.next("removed", seconds=2.0)  # through the outbox, within the poll interval
        await bob.wait_closed(seconds=2.0)

        ended = await host.client.post(f"/api/v1/meetings/{meeting['id']}/end")
        assert ended.status_code == 200, ended.text
        await alice.next("meeting_ended", seconds=1.0)  # the host's end reaches the node in < 1 s
        await alice.wait_closed(seconds=1.0)
    finally:
        await alice.close()
        await bob.close()
