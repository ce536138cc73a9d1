"""Mails the notification consumer sends, through the outbox and the event bus."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api import Api

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


async def test_the_audit_log_lists_what_happened(api: Api) -> None:
    host = await api.user("audited")
    meeting = await api.meeting(host, title="Audited meeting")
    admin = await api.admin()
    for _ in range(50):  # the audit consumer runs after the relay: moments later
        listed = await admin.client.get(
            "/api/v1/admin/audit", params={"subject_id": meeting["id"], "action": "meeting."}
        )
        assert listed.status_code == 200
        if listed.json()["items"]:
            break
        await asyncio.sleep(0.1)
    (entry,) = listed.json()["items"]
    assert entry["action"] == "meeting.created" and entry["subject_type"] == "meeting"
    assert entry["details"]["title"] == "Audited meeting"
    registered = await admin.client.get(
        "/api/v1/admin/audit", params={"subject_id": str(host.id), "action": "user.registered"}
    )
    assert registered.json()["total"] == 1
    refused = await host.client.get("/api/v1/admin/audit")
    assert refused.status_code == 403
