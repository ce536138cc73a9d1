"""A media node's /metrics follow a live meeting: rooms, participants, tracks by source and
forwarded streams while aiortc participants publish, forwarded packets and bytes growing while
media flows, and the participants gone once they leave."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import Api
from tests.support.media_client import Meeting, PatternTrack, ToneTrack
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def scrape(api: Api) -> dict[str, float]:
    """This node's media samples, by name (published tracks by ``name:source``)."""
    token = api.server.settings.metrics_token
    response = await api.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    node = api.server.settings.node_id
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("meeting_media_") and sample.labels.get("node") == node:
                source = sample.labels.get("source")
                samples[f"{sample.name}:{source}" if source else sample.name] = sample.value
    return samples


async def test_media_metrics_follow_a_live_meeting(api: Api) -> None:
    host = await api.user("host")
    meeting = Meeting(api, await api.meeting(host), host)
    guest = await meeting.guest("watched")
    before = await scrape(api)
    try:
        alice, bob = await meeting.join(host), await meeting.join(guest)
        await alice.publish((ToneTrack(), "microphone"), (PatternTrack(), "camera"))
        await bob.publish((ToneTrack(), "microphone"))
        assert await bob.wait_for_frames(host, "camera", 10) >= 10

        during = await scrape(api)
        assert during["meeting_media_rooms"] >= before["meeting_media_rooms"] + 1
        assert during["meeting_media_participants"] >= before["meeting_media_participants"] + 2
        camera = "meeting_media_published_tracks:camera"
        microphone = "meeting_media_published_tracks:microphone"
        assert during[camera] >= before[camera] + 1
        assert during[microphone] >= before[microphone] + 2
        # Each track goes to the one other participant.
        streams = "meeting_media_forwarded_streams"
        assert during[streams] >= before[streams] + 3
        assert during["meeting_media_received_packets_total"] > 0

        forwarded = "meeting_media_forwarded_packets_total"
        sent_bytes = "meeting_media_forwarded_bytes_total"

        async def still_forwarding() -> bool:
            now = await scrape(api)
            return now[forwarded] > during[forwarded] + 50 and now[sent_bytes] > during[sent_bytes]

        await eventually(still_forwarding, seconds=10, every=0.2)
    finally:
        for peer in meeting.peers:
            await peer.close()

    async def left() -> bool:
        return (await scrape(api))["meeting_media_participants"] <= during[
            "meeting_media_participants"
        ] - 2

    await eventually(left, seconds=10, every=0.2)
