"""Session revocation: at once in the revoking process, within the recheck delay elsewhere."""

from __future__ import annotations

import uuid

import pytest

from meeting_shared.services.sessions import SessionRevocations
from meeting_shared.state.memory import MemoryStateStore
from tests.support.clock import FakeClock

pytestmark = pytest.mark.unit


async def test_revocation_is_immediate_here_and_bounded_elsewhere() -> None:
    shared = MemoryStateStore()  # stands for Redis, shared by two processes
    clock = FakeClock()
    here = SessionRevocations(shared, access_ttl=900, recheck_after=2.0, clock=clock)
    elsewhere = SessionRevocations(shared, access_ttl=900, recheck_after=2.0, clock=clock)
    session = uuid.uuid4()
    assert not await here.is_revoked(session)
    assert not await elsewhere.is_revoked(session)

    await here.revoke([session])
    assert await here.is_revoked(session)  # the revoking process: at once
    assert not await elsewhere.is_revoked(session)  # remembered as valid for a moment
    clock.now += 2.01
    assert await elsewhere.is_revoked(session)  # then it checks again and sees it
    assert await elsewhere.is_revoked(session)  # a revoked session is never remembered as valid


async def test_recheck_can_be_turned_off() -> None:
    shared = MemoryStateStore()
    here = SessionRevocations(shared, access_ttl=900, recheck_after=0)
    elsewhere = SessionRevocations(shared, access_ttl=900, recheck_after=0)
    session = uuid.uuid4()
    assert not await elsewhere.is_revoked(session)
    await here.revoke([session])
    assert await elsewhere.is_revoked(session)
