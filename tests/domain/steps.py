"""What people do in the domain tests, one unit of work each (as one request is): join, leave,
invite, decide on the lobby, change roles; and what the domain refused, as (error, code)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from meeting_shared.errors import MeetingError
from meeting_shared.services.actors import Actor
from meeting_shared.services.attendance import (
    Admission,
    CreatedInvite,
    InviteRequest,
    JoinRequest,
    RoleChange,
    Waiting,
)
from meeting_shared.services.factory import Services
from tests.support.embedded import Deployment

T = TypeVar("T")


async def run(deployment: Deployment, step: Callable[[Services], Awaitable[T]]) -> T:
    """One step in a unit of work of its own."""
    async with deployment.services() as services:
        return await step(services)


async def refusal(
    deployment: Deployment, step: Callable[[Services], Awaitable[object]]
) -> tuple[type[MeetingError], str]:
    """The error class and code with which the domain refuses ``step`` (it must refuse)."""
    try:
        await run(deployment, step)
    except MeetingError as error:
        return type(error), error.code
    raise AssertionError("the step was not refused")


async def join(
    deployment: Deployment, actor: Actor, meeting_id: uuid.UUID, **request: Any
) -> Admission | Waiting:
    return await run(
        deployment, lambda s: s.attendance.join(actor, meeting_id, JoinRequest(**request))
    )


async def admitted(
    deployment: Deployment, actor: Actor, meeting_id: uuid.UUID, **request: Any
) -> Admission:
    """Join, which must let the actor in."""
    result = await join(deployment, actor, meeting_id, **request)
    assert isinstance(result, Admission), result
    return result


async def waiting(
    deployment: Deployment, actor: Actor, meeting_id: uuid.UUID, **request: Any
) -> Waiting:
    """Join, which must put the actor in the lobby."""
    result = await join(deployment, actor, meeting_id, **request)
    assert isinstance(result, Waiting), result
    return result


async def join_refusal(
    deployment: Deployment, actor: Actor, meeting_id: uuid.UUID, **request: Any
) -> tuple[type[MeetingError], str]:
    return await refusal(
        deployment, lambda s: s.attendance.join(actor, meeting_id, JoinRequest(**request))
    )


async def leave(deployment: Deployment, actor: Actor, meeting_id: uuid.UUID) -> None:
    await run(deployment, lambda s: s.attendance.leave(actor, meeting_id))


async def invite(
    deployment: Deployment, host: Actor, meeting_id: uuid.UUID, **request: Any
) -> CreatedInvite:
    """Invite a user (``user_id=`` or ``username=``) or create a link (neither)."""
    return await run(
        deployment, lambda s: s.attendance.invite(host, meeting_id, InviteRequest(**request))
    )


async def decide(
    deployment: Deployment, host: Actor, meeting_id: uuid.UUID, user: Actor, *, admit: bool
) -> None:
    await run(
        deployment, lambda s: s.attendance.decide(host, meeting_id, user.user_id, admit=admit)
    )


def to_role(role: str) -> RoleChange:
    return RoleChange.model_validate({"role": role})


async def change_role(
    deployment: Deployment, actor: Actor, meeting_id: uuid.UUID, target: Actor, role: str
) -> str:
    """The target's role after the change."""
    changed = await run(
        deployment,
        lambda s: s.attendance.change_role(actor, meeting_id, target.user_id, to_role(role)),
    )
    return str(changed.role)


async def roles(
    deployment: Deployment, actor: Actor, meeting_id: uuid.UUID
) -> dict[uuid.UUID, str]:
    """Who is in the meeting (not removed) and with which role, as ``actor`` lists them."""
    people = await run(deployment, lambda s: s.attendance.participants(actor, meeting_id))
    return {participant.user_id: str(participant.role) for participant, _ in people}
