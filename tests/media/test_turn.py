"""Media through a real TURN server (coturn) with the ephemeral credentials the node hands out."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.harness.coturn import TurnConfig
from tests.harness.ports import free_port
from tests.harness.seaweedfs import S3Config
from tests.support.api import Api
from tests.support.databases import separate_redis_db
from tests.support.live_server import production_settings, start_live_server
from tests.support.media_client import MediaPeer, PatternTrack, ToneTrack

pytestmark = pytest.mark.integration


async def test_relay_only_participants_meet_through_turn(
    turn_server: TurnConfig,
    migrated_postgres: str,
    redis_url: str,
    s3_config: S3Config,
    tmp_path: Path,
) -> None:
    settings = production_settings(
        postgres_url=migrated_postgres,
        redis_url=separate_redis_db(redis_url, 1),
        s3=s3_config,
        data_dir=tmp_path,
        port=free_port(),
        turn_urls=[turn_server.url],
        turn_secret=turn_server.secret,
        turn_credential_ttl_seconds=600,
    )
    server, stop = await start_live_server(settings)
    api = Api(server)
    peers: list[MediaPeer] = []
    try:
        host, guest = await api.user("turn_host"), await api.user("turn_guest")
        meeting = await api.meeting(host)
        invited = await host.client.post(
            f"/api/v1/meetings/{meeting['id']}/invites", json={"user_id": str(guest.id)}
        )
        assert invited.status_code == 201
        for user in (host, guest):
            peers.append(await MediaPeer.join(api, user, meeting["id"], relay_only=True))
        alice, bob = peers

        (turn,) = alice.snapshot["ice_servers"]
        assert turn["urls"] == [turn_server.url]
        expires, user_id = turn["username"].split(":")
        assert uuid.UUID(user_id) == host.id
        assert 590 <= int(expires) - time.time() <= 610
        assert bob.snapshot["ice_servers"][0]["username"].endswith(str(guest.id))

        for peer in peers:
            await peer.publish((ToneTrack(), "microphone"), (PatternTrack(), "camera"))
        assert await bob.wait_for_frames(host, "camera", 10) >= 10
        assert await alice.wait_for_frames(guest, "camera", 10) >= 10
        assert alice.publisher is not None
        gatherer = alice.publisher.getTransceivers()[0].receiver.transport.transport.iceGatherer
        candidates = gatherer.getLocalCandidates()
        assert candidates and {c.type for c in candidates} == {"relay"}  # TURN carried it all
    finally:
        for peer in peers:
            await peer.close()
        await api.aclose()
        await stop()
