"""Who may do what to whom in a meeting, decided by AttendanceService alone: roles, removal and
handing the meeting over (tests/api/test_meetings.py checks the same through HTTP)."""

from __future__ import annotations

import uuid

import pytest

from meeting_shared.errors import Forbidden, NotFound
from meeting_shared.services.actors import Actor
from tests.domain.steps import (
    admitted,
    change_role,
    invite,
    join_refusal,
    refusal,
    roles,
    run,
    to_role,
)
from tests.support.embedded import Deployment

pytestmark = pytest.mark.domain


async def _meeting_with(deployment: Deployment, *names: str) -> tuple[uuid.UUID, list[Actor]]:
    """A meeting its host and the named people have joined; returns its id and them, host first."""
    people = [await deployment.user(name) for name in ("host", *names)]
    host = people[0]
    meeting = await deployment.meeting(host)
    await admitted(deployment, host, meeting)
    for person in people[1:]:
        await invite(deployment, host, meeting, user_id=person.user_id)
        await admitted(deployment, person, meeting)
    return meeting, people


async def test_a_co_host_manages_participants_but_not_hosts(deployment: Deployment) -> None:
    meeting, (host, helper, guest) = await _meeting_with(deployment, "cohost", "guest")
    assert await change_role(deployment, host, meeting, helper, "co_host") == "co_host"

    assert await change_role(deployment, helper, meeting, guest, "presenter") == "presenter"
    grant = await refusal(
        deployment,
        lambda s: s.attendance.change_role(helper, meeting, guest.user_id, to_role("co_host")),
    )
    assert grant == (Forbidden, "not_meeting_host")
    demote_host = await refusal(
        deployment,
        lambda s: s.attendance.change_role(helper, meeting, host.user_id, to_role("participant")),
    )
    assert demote_host == (Forbidden, "not_meeting_host")
    remove_host = await refusal(
        deployment, lambda s: s.attendance.remove(helper, meeting, host.user_id)
    )
    assert remove_host == (Forbidden, "not_meeting_host")


async def test_participants_manage_nobody(deployment: Deployment) -> None:
    meeting, (host, guest, other) = await _meeting_with(deployment, "guest", "other")
    for step in (
        lambda s: s.attendance.remove(guest, meeting, other.user_id),
        lambda s: s.attendance.change_role(guest, meeting, other.user_id, to_role("presenter")),
        lambda s: s.attendance.lobby(guest, meeting),
    ):
        assert await refusal(deployment, step) == (Forbidden, "not_meeting_manager")
    assert await roles(deployment, host, meeting) == {
        host.user_id: "host",
        guest.user_id: "participant",
        other.user_id: "participant",
    }


async def test_nobody_changes_or_removes_themselves(deployment: Deployment) -> None:
    meeting, (host,) = await _meeting_with(deployment)
    own_role = await refusal(
        deployment,
        lambda s: s.attendance.change_role(host, meeting, host.user_id, to_role("participant")),
    )
    assert own_role == (Forbidden, "self_action")
    own_removal = await refusal(
        deployment, lambda s: s.attendance.remove(host, meeting, host.user_id)
    )
    assert own_removal == (Forbidden, "self_action")


async def test_only_the_host_removes_a_co_host(deployment: Deployment) -> None:
    meeting, (host, first, second) = await _meeting_with(deployment, "first", "second")
    for helper in (first, second):
        await change_role(deployment, host, meeting, helper, "co_host")
    by_peer = await refusal(
        deployment, lambda s: s.attendance.remove(first, meeting, second.user_id)
    )
    assert by_peer == (Forbidden, "not_meeting_host")
    await run(deployment, lambda s: s.attendance.remove(host, meeting, second.user_id))
    assert await roles(deployment, host, meeting) == {
        host.user_id: "host",
        first.user_id: "co_host",
    }


async def test_a_removed_person_is_out_until_invited_again(deployment: Deployment) -> None:
    meeting, (host, helper, guest) = await _meeting_with(deployment, "cohost", "guest")
    await change_role(deployment, host, meeting, helper, "co_host")
    await run(deployment, lambda s: s.attendance.remove(helper, meeting, guest.user_id))

    assert await join_refusal(deployment, guest, meeting) == (Forbidden, "removed_from_meeting")
    hidden = await refusal(deployment, lambda s: s.meetings.get(guest, meeting))
    assert hidden == (NotFound, "meeting_not_found")
    gone = await refusal(
        deployment,
        lambda s: s.attendance.change_role(host, meeting, guest.user_id, to_role("presenter")),
    )
    assert gone == (NotFound, "participant_not_found")
    assert guest.user_id not in await roles(deployment, host, meeting)
    types = [kind for kind, _ in await deployment.events(meeting)]
    assert types.count("participant.removed") == 1

    await invite(deployment, host, meeting, user_id=guest.user_id)  # lifts the removal
    await admitted(deployment, guest, meeting)


async def test_handing_over_makes_the_old_host_a_co_host(deployment: Deployment) -> None:
    meeting, (host, helper) = await _meeting_with(deployment, "heir")
    assert await change_role(deployment, host, meeting, helper, "host") == "host"
    heirs_view = await run(deployment, lambda s: s.meetings.get(helper, meeting))
    assert heirs_view.meeting.host_id == helper.user_id and heirs_view.my_role == "host"
    old_view = await run(deployment, lambda s: s.meetings.get(host, meeting))
    assert old_view.my_role == "co_host"
    assert await roles(deployment, helper, meeting) == {
        host.user_id: "co_host",
        helper.user_id: "host",
    }
    # The old host, a co-host now, may no longer touch the new host.
    demote = await refusal(
        deployment,
        lambda s: s.attendance.change_role(host, meeting, helper.user_id, to_role("participant")),
    )
    assert demote == (Forbidden, "not_meeting_host")
    changes = [
        (payload["user_id"], payload["role"])
        for kind, payload in await deployment.events(meeting)
        if kind == "participant.role_changed"
    ]
    assert changes == [(str(host.user_id), "co_host"), (str(helper.user_id), "host")]
