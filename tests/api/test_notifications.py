"""Mails the notification consumer sends, through the outbox and the event bus."""

from __future__ import annotations

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.integration


async def test_a_person_invited_by_name_gets_a_mail_with_the_link(api: Api) -> None:
    host, guest = await api.user("inviter"), await api.user("invitee")
    meeting = await api.meeting(host, title="Design review")
    invited = await host.client.post(
        f"/api/v1/meetings/{meeting['id']}/invites", json={"user_id": str(guest.id)}
    )
    assert invited.status_code == 201
    mail = await api.wait_for_mail(guest.email)
    assert mail["subject"] == "Invitation: Design review"
    assert f"/join/{meeting['id']}" in mail["text"]
