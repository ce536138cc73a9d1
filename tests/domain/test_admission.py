"""Who gets into a meeting, decided by AttendanceService alone (no HTTP, no PostgreSQL): the
lobby, the meeting password, invites and capacity. tests/api/test_meetings.py checks the same
rules through the HTTP API; these pin each rule down at the service, fast."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from meeting_shared.clock import utcnow
from meeting_shared.db.models import MeetingInvite
from meeting_shared.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from meeting_shared.services.attendance import InviteRequest
from meeting_shared.services.meetings import MeetingChange
from tests.domain.steps import (
    admitted,
    decide,
    invite,
    join_refusal,
    leave,
    refusal,
    run,
    to_role,
    waiting,
)
from tests.support.embedded import Deployment, embedded_deployment

pytestmark = pytest.mark.domain

APPROVAL = {"settings": {"require_approval": True}}


# --- the host ---------------------------------------------------------------------------------


async def test_the_host_joining_starts_the_meeting_with_a_join_token(
    deployment: Deployment,
) -> None:
    host = await deployment.user("host")
    meeting = await deployment.meeting(host)
    admission = await admitted(deployment, host, meeting)
    assert admission.participant.role == "host" and admission.participant.state == "joined"
    assert admission.meeting.status == "live" and admission.node.id == "local"
    claims = deployment.container.tokens.read_join(admission.join_token)
    assert (claims.meeting_id, claims.user_id, claims.role) == (meeting, host.user_id, "host")
    assert claims.participant_id == admission.participant.id
    types = [kind for kind, _ in await deployment.events(meeting)]
    assert types == ["meeting.created", "meeting.started", "participant.joined"]


async def test_a_stranger_finds_no_meeting_without_a_way_in(deployment: Deployment) -> None:
    host, stranger = await deployment.user("host"), await deployment.user("stranger")
    meeting = await deployment.meeting(host)
    missing = await join_refusal(deployment, stranger, meeting)
    assert missing == (NotFound, "meeting_not_found")
    assert await join_refusal(deployment, stranger, uuid.uuid4()) == missing


# --- the lobby --------------------------------------------------------------------------------


async def test_the_lobby_holds_guests_until_the_host_decides(deployment: Deployment) -> None:
    host, admitted_guest, denied_guest = (
        await deployment.user("host"),
        await deployment.user("in"),
        await deployment.user("out"),
    )
    meeting = await deployment.meeting(host, **APPROVAL)
    for guest in (admitted_guest, denied_guest):
        await invite(deployment, host, meeting, user_id=guest.user_id)
    await admitted(deployment, host, meeting)  # managers enter directly

    wait = await waiting(deployment, admitted_guest, meeting)
    assert wait.entry.status == "waiting"
    assert wait.host is not None and wait.host.id == host.user_id  # whom they wait for
    await waiting(deployment, denied_guest, meeting)
    again = await waiting(deployment, admitted_guest, meeting)  # asking again keeps waiting
    assert again.entry.id == wait.entry.id

    lobby = await run(deployment, lambda s: s.attendance.lobby(host, meeting))
    assert {user.id for _, user in lobby} == {admitted_guest.user_id, denied_guest.user_id}
    not_manager = await refusal(deployment, lambda s: s.attendance.lobby(admitted_guest, meeting))
    assert not_manager == (Forbidden, "not_meeting_manager")

    await decide(deployment, host, meeting, admitted_guest, admit=True)
    await decide(deployment, host, meeting, denied_guest, admit=False)
    twice = await refusal(
        deployment,
        lambda s: s.attendance.decide(host, meeting, denied_guest.user_id, admit=False),
    )
    assert twice == (Conflict, "lobby_already_decided")
    nobody = await refusal(
        deployment, lambda s: s.attendance.decide(host, meeting, uuid.uuid4(), admit=True)
    )
    assert nobody == (NotFound, "lobby_entry_not_found")

    assert (await admitted(deployment, admitted_guest, meeting)).participant.role == "participant"
    assert await join_refusal(deployment, denied_guest, meeting) == (Forbidden, "lobby_denied")
    assert await run(deployment, lambda s: s.attendance.lobby(host, meeting)) == []
    types = [kind for kind, _ in await deployment.events(meeting)]
    assert types.count("participant.waiting") == 2
    assert types.count("participant.admitted") == types.count("participant.denied") == 1


async def test_a_refusal_outlives_approval_until_a_host_admits(deployment: Deployment) -> None:
    host, guest = await deployment.user("host"), await deployment.user("guest")
    meeting = await deployment.meeting(host, **APPROVAL)
    await invite(deployment, host, meeting, user_id=guest.user_id)
    await waiting(deployment, guest, meeting)
    await decide(deployment, host, meeting, guest, admit=False)

    change = MeetingChange.model_validate({"settings": {"require_approval": False}})
    await run(deployment, lambda s: s.meetings.update(host, meeting, change))
    assert await join_refusal(deployment, guest, meeting) == (Forbidden, "lobby_denied")
    await decide(deployment, host, meeting, guest, admit=True)  # a denial may still be lifted
    await admitted(deployment, guest, meeting)


async def test_a_co_host_skips_the_lobby_and_may_decide(deployment: Deployment) -> None:
    host, helper, guest = (
        await deployment.user("host"),
        await deployment.user("cohost"),
        await deployment.user("guest"),
    )
    meeting = await deployment.meeting(host)
    for person in (helper, guest):
        await invite(deployment, host, meeting, user_id=person.user_id)
    await run(
        deployment,
        lambda s: s.attendance.change_role(host, meeting, helper.user_id, to_role("co_host")),
    )
    change = MeetingChange.model_validate({"settings": {"require_approval": True}})
    await run(deployment, lambda s: s.meetings.update(host, meeting, change))

    assert (await admitted(deployment, helper, meeting)).participant.role == "co_host"
    await waiting(deployment, guest, meeting)
    await decide(deployment, helper, meeting, guest, admit=True)
    await admitted(deployment, guest, meeting)


async def test_a_stranger_with_the_password_still_waits_in_the_lobby(
    deployment: Deployment,
) -> None:
    host, stranger = await deployment.user("host"), await deployment.user("stranger")
    meeting = await deployment.meeting(host, password="open-sesame", **APPROVAL)
    assert await join_refusal(deployment, stranger, meeting) == (Forbidden, "password_required")
    await waiting(deployment, stranger, meeting, password="open-sesame")
    await waiting(deployment, stranger, meeting)  # now known: no password asked again


# --- the password -----------------------------------------------------------------------------


async def test_the_password_lets_a_stranger_in_once(deployment: Deployment) -> None:
    host, guest = await deployment.user("host"), await deployment.user("guest")
    meeting = await deployment.meeting(host, password="open-sesame")
    assert await join_refusal(deployment, guest, meeting) == (Forbidden, "password_required")
    assert await join_refusal(deployment, guest, meeting, password="wrong-one") == (
        Forbidden,
        "wrong_password",
    )
    admission = await admitted(deployment, guest, meeting, password="open-sesame")
    assert admission.participant.role == "participant"
    # Once a member, no password is needed to come back.
    await leave(deployment, guest, meeting)
    await admitted(deployment, guest, meeting)


async def test_an_invited_user_needs_no_password(deployment: Deployment) -> None:
    host, guest = await deployment.user("host"), await deployment.user("guest")
    meeting = await deployment.meeting(host, password="open-sesame")
    await invite(deployment, host, meeting, user_id=guest.user_id)
    await admitted(deployment, guest, meeting)


async def test_password_guesses_are_rate_limited_like_logins(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    async with embedded_deployment(migrated_sqlite, tmp_path, rate_limit_login="2/60") as limited:
        host, guest = await limited.user("host"), await limited.user("guest")
        meeting = await limited.meeting(host, password="open-sesame")
        for _ in range(2):
            assert await join_refusal(limited, guest, meeting, password="guess") == (
                Forbidden,
                "wrong_password",
            )
        assert await join_refusal(limited, guest, meeting, password="open-sesame") == (
            RateLimited,
            "rate_limited",
        )


# --- invites ----------------------------------------------------------------------------------


async def test_an_invite_link_has_limited_uses(deployment: Deployment) -> None:
    host, first, second = (
        await deployment.user("host"),
        await deployment.user("a"),
        await deployment.user("b"),
    )
    meeting = await deployment.meeting(host)
    link = await invite(deployment, host, meeting, max_uses=1, expires_in_hours=2)
    assert link.token and link.invite.invitee_id is None and link.invite.max_uses == 1

    await admitted(deployment, first, meeting, invite_token=link.token)
    assert await join_refusal(deployment, second, meeting, invite_token=link.token) == (
        Forbidden,
        "invite_used_up",
    )
    assert await join_refusal(deployment, second, meeting, invite_token="forged-" + link.token) == (
        Forbidden,
        "invalid_invite",
    )
    # The one who used it is a member now: no token needed to come back.
    await leave(deployment, first, meeting)
    await admitted(deployment, first, meeting)


@pytest.mark.parametrize("ended", ["expired", "revoked"])
async def test_an_expired_or_revoked_link_is_invalid(deployment: Deployment, ended: str) -> None:
    host, guest = await deployment.user("host"), await deployment.user("guest")
    meeting = await deployment.meeting(host)
    link = await invite(deployment, host, meeting)
    past = utcnow() - timedelta(seconds=1)
    values = {"expires_at": past} if ended == "expired" else {"revoked_at": past}
    async with deployment.container.db.session() as session:
        await session.execute(
            update(MeetingInvite).where(MeetingInvite.id == link.invite.id).values(**values)
        )
        await session.commit()
    assert await join_refusal(deployment, guest, meeting, invite_token=link.token) == (
        Forbidden,
        "invalid_invite",
    )


async def test_a_link_opens_only_its_own_meeting(deployment: Deployment) -> None:
    host, guest = await deployment.user("host"), await deployment.user("guest")
    mine, other = await deployment.meeting(host), await deployment.meeting(host)
    link = await invite(deployment, host, mine)
    assert link.token is not None
    assert await join_refusal(deployment, guest, other, invite_token=link.token) == (
        Forbidden,
        "invalid_invite",
    )


async def test_only_managers_invite_and_only_known_users(deployment: Deployment) -> None:
    host, guest = await deployment.user("host"), await deployment.user("guest")
    meeting = await deployment.meeting(host)
    await invite(deployment, host, meeting, user_id=guest.user_id)
    by_guest = await refusal(
        deployment,
        lambda s: s.attendance.invite(guest, meeting, InviteRequest()),
    )
    assert by_guest == (Forbidden, "not_meeting_manager")
    unknown = await refusal(
        deployment,
        lambda s: s.attendance.invite(host, meeting, InviteRequest(username="nobody_here")),
    )
    assert unknown == (InvalidInput, "user_not_found")


# --- capacity ---------------------------------------------------------------------------------


async def test_a_full_meeting_refuses_until_someone_leaves(deployment: Deployment) -> None:
    host, first, second = (
        await deployment.user("host"),
        await deployment.user("a"),
        await deployment.user("b"),
    )
    meeting = await deployment.meeting(host, max_participants=2)
    for guest in (first, second):
        await invite(deployment, host, meeting, user_id=guest.user_id)
    await admitted(deployment, host, meeting)
    await admitted(deployment, first, meeting)
    assert await join_refusal(deployment, second, meeting) == (Conflict, "meeting_full")
    # Joining again while in (a reconnect) does not count oneself twice.
    await admitted(deployment, first, meeting)
    await leave(deployment, first, meeting)
    await admitted(deployment, second, meeting)


async def test_the_host_counts_like_anyone_when_the_meeting_is_full(
    deployment: Deployment,
) -> None:
    host, first, second = (
        await deployment.user("host"),
        await deployment.user("a"),
        await deployment.user("b"),
    )
    meeting = await deployment.meeting(host, max_participants=2)
    for guest in (first, second):
        await invite(deployment, host, meeting, user_id=guest.user_id)
    await admitted(deployment, first, meeting)
    await admitted(deployment, second, meeting)
    assert await join_refusal(deployment, host, meeting) == (Conflict, "meeting_full")


# --- closed meetings --------------------------------------------------------------------------


async def test_nobody_joins_an_ended_or_cancelled_meeting(deployment: Deployment) -> None:
    host, guest = await deployment.user("host"), await deployment.user("guest")
    ended, cancelled = await deployment.meeting(host), await deployment.meeting(host)
    for meeting in (ended, cancelled):
        await invite(deployment, host, meeting, user_id=guest.user_id)
    await admitted(deployment, host, ended)
    await run(deployment, lambda s: s.meetings.end(host, ended))
    await run(deployment, lambda s: s.meetings.cancel(host, cancelled))
    for person in (host, guest):
        assert await join_refusal(deployment, person, ended) == (Conflict, "meeting_ended")
        assert await join_refusal(deployment, person, cancelled) == (Conflict, "meeting_cancelled")
