"""The transcription queue: seconds of audio in flight are bounded, the rest waits in order for
a bounded time, and what cannot start in time is a 503 ``asr_busy`` at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from meeting_shared.ai.transcription_queue import TranscriptionBusy, TranscriptionQueue

pytestmark = pytest.mark.unit


def queue(**overrides: float) -> TranscriptionQueue:
    values: dict[str, float] = {"in_flight": 30, "max_waiting": 60, "max_wait": 5}
    values.update(overrides)
    return TranscriptionQueue(retry_after=9, **values)


async def hold(line: TranscriptionQueue, seconds: float, release: asyncio.Event) -> None:
    async with line.turn(seconds):
        await release.wait()


@pytest.fixture
async def release() -> AsyncIterator[asyncio.Event]:
    event = asyncio.Event()
    yield event
    event.set()


async def test_audio_beyond_the_bound_waits_its_turn_in_order(release: asyncio.Event) -> None:
    line = queue()
    first = asyncio.create_task(hold(line, 29.5, release))
    await asyncio.sleep(0)
    assert line.in_flight == 29.5
    started: list[str] = []

    async def later(name: str, seconds: float) -> None:
        async with line.turn(seconds):
            started.append(name)

    waiting = [asyncio.create_task(later("long", 20)), asyncio.create_task(later("short", 1))]
    await asyncio.sleep(0.05)
    # "short" would fit beside the first clip, but does not overtake "long" waiting before it.
    assert started == [] and line.waiting == 21
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *waiting), 5)
    assert started == ["long", "short"]
    assert line.in_flight == 0 and line.waiting == 0


async def test_a_turn_that_does_not_come_in_time_is_busy_not_a_timeout(
    release: asyncio.Event,
) -> None:
    line = queue(max_wait=0.1)
    first = asyncio.create_task(hold(line, 29.5, release))
    await asyncio.sleep(0)
    with pytest.raises(TranscriptionBusy) as refused:
        async with line.turn(29.5):
            pytest.fail("the second clip must not run beside the first")
    assert refused.value.code == "asr_busy" and refused.value.status == 503
    assert refused.value.retry_after == 9  # speed unknown yet: the configured wait
    assert line.waiting == 0  # it left the line
    release.set()
    await asyncio.wait_for(first, 5)
    async with line.turn(29.5):  # and the line is free again
        assert line.in_flight == 29.5


async def test_too_much_waiting_audio_is_refused_at_once(release: asyncio.Event) -> None:
    line = queue(max_waiting=40, max_wait=60)
    first = asyncio.create_task(hold(line, 30, release))
    second = asyncio.create_task(hold(line, 30, release))
    await asyncio.sleep(0.05)
    assert line.waiting == 30
    with pytest.raises(TranscriptionBusy):
        await asyncio.wait_for(line.turn(20).__aenter__(), 1)  # no wait: refused on arrival
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 5)


async def test_a_caller_that_leaves_the_line_lets_the_next_in(release: asyncio.Event) -> None:
    line = queue()
    first = asyncio.create_task(hold(line, 20, release))
    await asyncio.sleep(0)
    big = asyncio.create_task(hold(line, 25, release))
    small_started = asyncio.Event()

    async def small() -> None:
        async with line.turn(5):
            small_started.set()

    behind = asyncio.create_task(small())
    await asyncio.sleep(0.05)
    assert not small_started.is_set()
    big.cancel()  # its client went away: the 5 s behind it fit beside the first clip
    await asyncio.wait_for(small_started.wait(), 1)
    await behind
    assert line.waiting == 0
    release.set()
    await asyncio.wait_for(first, 5)
    assert line.in_flight == 0


async def test_retry_after_follows_the_speed_it_has_seen() -> None:
    line = queue(max_wait=0)
    async with line.turn(1):
        await asyncio.sleep(0.2)  # 0.2 s per second of audio
    release = asyncio.Event()
    first = asyncio.create_task(hold(line, 30, release))
    await asyncio.sleep(0)
    with pytest.raises(TranscriptionBusy) as refused:
        async with line.turn(10):
            pass
    assert 5 <= refused.value.retry_after <= 30  # about 30 s * 0.2, not the configured 9
    release.set()
    await asyncio.wait_for(first, 5)
