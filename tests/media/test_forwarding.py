"""The SFU forwards real media between aiortc participants over real ICE/DTLS/SRTP."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.media_client import MediaPeer, PatternTrack, ToneTrack

pytestmark = pytest.mark.integration


async def test_two_participants_see_and_hear_each_other(api: Api) -> None:
    host, guest = await api.user("host"), await api.user("guest")
    meeting = await api.meeting(host)
    await host.client.post(
        f"/api/v1/meetings/{meeting['id']}/invites", json={"user_id": str(guest.id)}
    )
    alice = await MediaPeer.join(api, host, meeting["id"])
    bob = await MediaPeer.join(api, guest, meeting["id"])
    try:
        await alice.publish((ToneTrack(), "microphone"), (PatternTrack(), "camera"))
        await bob.publish((ToneTrack(), "microphone"), (PatternTrack(), "camera"))
        assert await bob.wait_for_frames(host, "camera", 20) >= 20
        assert await alice.wait_for_frames(guest, "camera", 20) >= 20
        assert await alice.wait_for_frames(guest, "microphone", 20) >= 20
        assert await bob.wait_for_frames(host, "microphone", 20) >= 20
    finally:
        await alice.close()
        await bob.close()
