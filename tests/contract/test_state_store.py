"""The ``StateStore`` contract, run against the memory and the Redis adapters.

Expiry and rate-limit tests use short real ttls and windows so that both adapters run the same
code; memory-only details (the injectable clock, the sweep) are unit tests at the end.
"""

from __future__ import annotations

import asyncio
import socket
import stat
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from meeting_shared.errors import Unavailable
from meeting_shared.state import StateStore
from meeting_shared.state.memory import MemoryStateStore
from meeting_shared.state.redis import RedisStateStore
from tests.support.clock import FakeClock

pytestmark = pytest.mark.contract

Key = Callable[[str], str]


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    adapter: StateStore
    if request.param == "memory":
        adapter = MemoryStateStore()
    else:
        # Looked up lazily so the memory half runs even where redis-server is missing.
        adapter = RedisStateStore.from_url(request.getfixturevalue("redis_url"))
    yield adapter
    await adapter.aclose()


Reopen = Callable[[], StateStore]


@pytest.fixture(params=["memory", "redis"])
async def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Reopen]:
    """Opens the store again over the same backing state, as a restarted process would: the
    same journal file for the memory adapter, the same server for Redis."""
    opened: list[StateStore] = []

    def open_store() -> StateStore:
        adapter: StateStore
        if request.param == "memory":
            adapter = MemoryStateStore(durable_path=tmp_path / "state" / "durable.jsonl")
        else:
            adapter = RedisStateStore.from_url(request.getfixturevalue("redis_url"))
        opened.append(adapter)
        return adapter

    yield open_store
    for adapter in opened:
        await adapter.aclose()


@pytest.fixture
def key() -> Key:
    """Builds keys under a prefix unique to this test, so tests sharing a Redis never collide."""
    prefix = f"test:{uuid.uuid4().hex}:"
    return lambda name: prefix + name


class TestStateStoreContract:
    async def test_get_of_missing_key_is_none(self, store: StateStore, key: Key) -> None:
        assert await store.get(key("missing")) is None

    async def test_set_then_get_and_overwrite(self, store: StateStore, key: Key) -> None:
        await store.set(key("a"), "one")
        assert await store.get(key("a")) == "one"
        await store.set(key("a"), "two")
        assert await store.get(key("a")) == "two"

    async def test_value_expires_after_ttl(self, store: StateStore, key: Key) -> None:
        await store.set(key("a"), "v", ttl=0.2)
        assert await store.get(key("a")) == "v"
        await asyncio.sleep(0.3)
        assert await store.get(key("a")) is None

    async def test_set_without_ttl_clears_an_earlier_ttl(self, store: StateStore, key: Key) -> None:
        await store.set(key("a"), "v", ttl=0.2)
        await store.set(key("a"), "w")
        await asyncio.sleep(0.3)
        assert await store.get(key("a")) == "w"

    async def test_non_positive_ttl_is_rejected(self, store: StateStore, key: Key) -> None:
        with pytest.raises(ValueError):
            await store.set(key("a"), "v", ttl=0)
        with pytest.raises(ValueError):
            await store.hash_set(key("h"), "f", "v", ttl=-1)

    async def test_get_many_keeps_order_and_reports_missing(
        self, store: StateStore, key: Key
    ) -> None:
        await store.set(key("a"), "1")
        await store.set(key("c"), "3")
        values = await store.get_many([key("c"), key("b"), key("a"), key("c")])
        assert values == ["3", None, "1", "3"]
        assert await store.get_many([]) == []

    async def test_get_many_skips_expired_values(self, store: StateStore, key: Key) -> None:
        await store.set(key("a"), "1", ttl=0.2)
        await store.set(key("b"), "2")
        await asyncio.sleep(0.3)
        assert await store.get_many([key("a"), key("b")]) == [None, "2"]

    async def test_set_if_absent(self, store: StateStore, key: Key) -> None:
        assert await store.set_if_absent(key("lock"), "first") is True
        assert await store.set_if_absent(key("lock"), "second") is False
        assert await store.get(key("lock")) == "first"
        await store.delete(key("lock"))
        assert await store.set_if_absent(key("lock"), "third") is True
        assert await store.get(key("lock")) == "third"

    async def test_set_if_absent_succeeds_again_after_expiry(
        self, store: StateStore, key: Key
    ) -> None:
        assert await store.set_if_absent(key("lock"), "first", ttl=0.2) is True
        assert await store.set_if_absent(key("lock"), "second", ttl=0.2) is False
        await asyncio.sleep(0.3)
        assert await store.set_if_absent(key("lock"), "third") is True
        assert await store.get(key("lock")) == "third"

    async def test_delete_several_keys_ignores_missing_ones(
        self, store: StateStore, key: Key
    ) -> None:
        await store.set(key("a"), "1")
        await store.set(key("b"), "2")
        await store.set(key("c"), "3")
        await store.hash_set(key("h"), "f", "v")
        await store.delete(key("a"), key("b"), key("missing"), key("h"))
        assert await store.get_many([key("a"), key("b"), key("c")]) == [None, None, "3"]
        assert await store.hash_get_all(key("h")) == {}
        await store.delete()

    async def test_hash_set_get_all_and_delete(self, store: StateStore, key: Key) -> None:
        assert await store.hash_get_all(key("h")) == {}
        await store.hash_set(key("h"), "alice", "1")
        await store.hash_set(key("h"), "bob", "2")
        await store.hash_set(key("h"), "alice", "3")
        assert await store.hash_get_all(key("h")) == {"alice": "3", "bob": "2"}
        await store.hash_delete(key("h"), "alice")
        await store.hash_delete(key("h"), "nobody")
        assert await store.hash_get_all(key("h")) == {"bob": "2"}

    async def test_hash_without_fields_no_longer_exists(self, store: StateStore, key: Key) -> None:
        await store.hash_set(key("h"), "f", "v")
        await store.hash_delete(key("h"), "f")
        assert await store.hash_get_all(key("h")) == {}
        assert await store.set_if_absent(key("h"), "now a string") is True

    async def test_hash_expires_as_a_whole(self, store: StateStore, key: Key) -> None:
        await store.hash_set(key("h"), "a", "1", ttl=0.2)
        # A set without ttl keeps the hash's expiry.
        await store.hash_set(key("h"), "b", "2")
        assert await store.hash_get_all(key("h")) == {"a": "1", "b": "2"}
        await asyncio.sleep(0.3)
        assert await store.hash_get_all(key("h")) == {}

    async def test_hash_ttl_is_refreshed_by_a_later_set(self, store: StateStore, key: Key) -> None:
        await store.hash_set(key("h"), "a", "1", ttl=0.2)
        await asyncio.sleep(0.1)
        await store.hash_set(key("h"), "b", "2", ttl=0.5)
        await asyncio.sleep(0.2)
        assert await store.hash_get_all(key("h")) == {"a": "1", "b": "2"}

    async def test_rate_limit_allows_limit_then_refuses(self, store: StateStore, key: Key) -> None:
        decisions = [await store.hit(key("r"), 3, 0.5) for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, True]
        assert [d.remaining for d in decisions] == [2, 1, 0]
        assert all(d.retry_after == 0 for d in decisions)
        refused = await store.hit(key("r"), 3, 0.5)
        assert not refused.allowed
        assert refused.remaining == 0
        assert 0 < refused.retry_after <= 0.5

    async def test_waiting_retry_after_lets_the_next_hit_through(
        self, store: StateStore, key: Key
    ) -> None:
        for _ in range(2):
            await store.hit(key("r"), 2, 0.4)
        refused = await store.hit(key("r"), 2, 0.4)
        # Refused hits are not counted, so hammering does not push the wait further out.
        again = await store.hit(key("r"), 2, 0.4)
        assert not refused.allowed and not again.allowed
        assert again.retry_after <= refused.retry_after
        await asyncio.sleep(again.retry_after)
        assert (await store.hit(key("r"), 2, 0.4)).allowed

    async def test_window_slides_rather_than_resets(self, store: StateStore, key: Key) -> None:
        started = time.monotonic()
        await store.hit(key("r"), 2, 0.6)
        await asyncio.sleep(0.3)
        await store.hit(key("r"), 2, 0.6)
        refused = await store.hit(key("r"), 2, 0.6)
        elapsed = time.monotonic() - started
        assert not refused.allowed
        # Only the first hit has to leave the window: at most 0.3 s, not a whole window.
        assert 0.6 - elapsed - 0.01 <= refused.retry_after <= 0.3 + 0.01
        await asyncio.sleep(refused.retry_after)
        allowed = await store.hit(key("r"), 2, 0.6)
        assert allowed.allowed
        assert allowed.remaining == 0

    async def test_rate_limit_keys_are_independent(self, store: StateStore, key: Key) -> None:
        assert (await store.hit(key("alice"), 1, 5)).allowed
        assert not (await store.hit(key("alice"), 1, 5)).allowed
        bob = await store.hit(key("bob"), 1, 5)
        assert bob.allowed
        assert bob.remaining == 0

    async def test_rate_limit_rejects_impossible_limits(self, store: StateStore, key: Key) -> None:
        with pytest.raises(ValueError):
            await store.hit(key("r"), 0, 1)
        with pytest.raises(ValueError):
            await store.hit(key("r"), 1, 0)

    async def test_key_used_as_another_kind_is_a_type_error(
        self, store: StateStore, key: Key
    ) -> None:
        await store.hash_set(key("h"), "f", "v")
        await store.set(key("s"), "v")
        with pytest.raises(TypeError):
            await store.get(key("h"))
        with pytest.raises(TypeError):
            await store.hash_get_all(key("s"))
        with pytest.raises(TypeError):
            await store.hit(key("s"), 1, 1)
        # Like MGET, reading many treats other kinds as missing.
        assert await store.get_many([key("h"), key("s")]) == [None, "v"]

    async def test_cache_round_trip_at_a_generation(self, store: StateStore, key: Key) -> None:
        generation, value = await store.cache_read(key("c"), "page1")
        assert (generation, value) == (0, None)
        assert await store.cache_write(key("c"), generation, "page1", "body-1", ttl=5)
        assert await store.cache_read(key("c"), "page1") == (0, "body-1")
        assert await store.cache_read(key("c"), "page2") == (0, None)

    async def test_cache_invalidation_drops_values_and_refuses_stale_writes(
        self, store: StateStore, key: Key
    ) -> None:
        await store.cache_write(key("c"), 0, "page1", "old", ttl=5)
        generation, _ = await store.cache_read(key("c"), "page2")  # a reader starts computing
        await store.cache_invalidate([key("c"), key("other")], ttl=5)  # a change commits
        assert await store.cache_read(key("c"), "page1") == (1, None)
        # The reader computed before the change: its result must not be cached.
        assert not await store.cache_write(key("c"), generation, "page2", "stale", ttl=5)
        assert await store.cache_read(key("c"), "page2") == (1, None)
        assert await store.cache_write(key("c"), 1, "page2", "fresh", ttl=5)
        assert await store.cache_read(key("c"), "page2") == (1, "fresh")
        assert await store.cache_read(key("other"), "x") == (1, None)
        await store.cache_invalidate([], ttl=5)

    async def test_cache_expires_as_a_whole(self, store: StateStore, key: Key) -> None:
        await store.cache_invalidate([key("c")], ttl=5)
        assert await store.cache_write(key("c"), 1, "page", "v", ttl=0.2)
        await asyncio.sleep(0.3)
        assert await store.cache_read(key("c"), "page") == (0, None)

    async def test_ping(self, store: StateStore) -> None:
        await store.ping()

    async def test_spend_takes_amounts_from_a_budget_that_refills(
        self, store: StateStore, key: Key
    ) -> None:
        # 10 units per 0.5 s: 29.5 and more do not fit in 30, but 7 + 3 fill it exactly.
        first = await store.spend(key("b"), 7, 10, 0.5)
        assert first.allowed and first.remaining == 3
        assert (await store.spend(key("b"), 3, 10, 0.5)).allowed
        refused = await store.spend(key("b"), 4, 10, 0.5)
        assert not refused.allowed and refused.remaining == 0
        # Four units refill in 0.2 s: the wait is exact, not a whole window.
        assert 0.1 < refused.retry_after <= 0.2 + 0.01
        # A refused spend takes nothing, so asking again does not push the wait further out.
        again = await store.spend(key("b"), 4, 10, 0.5)
        assert not again.allowed and again.retry_after <= refused.retry_after + 0.01
        await asyncio.sleep(refused.retry_after + 0.02)
        assert (await store.spend(key("b"), 4, 10, 0.5)).allowed
        assert (await store.spend(key("other"), 10, 10, 0.5)).allowed

    async def test_spend_rejects_amounts_that_could_never_fit(
        self, store: StateStore, key: Key
    ) -> None:
        for amount in (0, -1, 10.5):
            with pytest.raises(ValueError):
                await store.spend(key("b"), amount, 10, 1)


class TestDurableKeys:
    """``set_durable``: what a restarted process must still find (a session's revocation)."""

    async def test_a_durable_value_outlives_a_restart(self, reopen: Reopen, key: Key) -> None:
        store = reopen()
        await store.set_durable(key("revoked"), "1", ttl=60)
        await store.aclose()
        restarted = reopen()
        assert await restarted.get(key("revoked")) == "1"
        # and again, after a restart that only read it
        await restarted.aclose()
        assert await reopen().get(key("revoked")) == "1"

    async def test_a_durable_value_still_expires_after_a_restart(
        self, reopen: Reopen, key: Key
    ) -> None:
        store = reopen()
        await store.set_durable(key("short"), "1", ttl=0.5)
        await store.aclose()
        restarted = reopen()
        assert await restarted.get(key("short")) == "1"
        await asyncio.sleep(0.6)
        assert await restarted.get(key("short")) is None
        await restarted.aclose()
        assert await reopen().get(key("short")) is None

    async def test_deleted_or_replaced_durable_values_stay_gone(
        self, reopen: Reopen, key: Key
    ) -> None:
        store = reopen()
        for name in ("deleted", "replaced", "kept"):
            await store.set_durable(key(name), "old", ttl=60)
        await store.delete(key("deleted"))
        await store.set(key("replaced"), "plain")
        await store.set_durable(key("kept"), "new", ttl=60)
        await store.aclose()
        restarted = reopen()
        assert await restarted.get(key("deleted")) is None
        assert await restarted.get(key("replaced")) != "old"
        assert await restarted.get(key("kept")) == "new"


def _closed_port() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


async def test_redis_at_a_closed_port_is_unavailable_quickly() -> None:
    store = RedisStateStore.from_url(_closed_port())
    try:
        for operation in (
            lambda: store.get("k"),
            lambda: store.hit("k", 1, 1),
            store.ping,
        ):
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await operation()
            assert time.monotonic() - started < 3
    finally:
        await store.aclose()


async def test_redis_that_never_answers_is_unavailable_not_a_hang() -> None:
    async def accept_and_stay_silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Swallow commands until the client gives up and disconnects; never leaks a task.
        await reader.read()
        writer.close()

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStateStore.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await store.get("k")
        assert time.monotonic() - started < 3
    finally:
        await store.aclose()
        server.close()
        await server.wait_closed()


@pytest.mark.unit
async def test_memory_retry_after_is_exact_and_sufficient() -> None:
    # Large clock values (a host up for months) stress the floating-point arithmetic.
    for start in (0.0, 1_000.1, 12_345_678.9):
        clock = FakeClock(start)
        store = MemoryStateStore(clock=clock)
        await store.hit("r", 2, 10)
        clock.advance(3)
        await store.hit("r", 2, 10)
        clock.advance(2)
        refused = await store.hit("r", 2, 10)
        assert refused.retry_after == pytest.approx(5.0)
        clock.advance(refused.retry_after)
        assert (await store.hit("r", 2, 10)).allowed


@pytest.mark.unit
async def test_memory_retry_after_never_exceeds_window() -> None:
    clock = FakeClock(0.1)
    store = MemoryStateStore(clock=clock)
    await store.hit("r", 1, 0.2)
    refused = await store.hit("r", 1, 0.2)
    assert 0 < refused.retry_after <= 0.2
    clock.advance(refused.retry_after)
    assert (await store.hit("r", 1, 0.2)).allowed


@pytest.mark.unit
async def test_memory_retry_after_when_limit_shrinks() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock=clock)
    for _ in range(3):
        await store.hit("r", 3, 10)
        clock.advance(1)
    # Two of the three hits (at +0 s and +1 s) must leave before one more fits under a limit of 2.
    refused = await store.hit("r", 2, 10)
    assert refused.retry_after == pytest.approx(8.0)


@pytest.mark.unit
async def test_memory_ttl_with_injected_clock() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock=clock)
    await store.set("a", "v", ttl=5)
    await store.hash_set("h", "f", "v", ttl=5)
    clock.advance(4.999)
    assert await store.get("a") == "v"
    clock.advance(0.001)
    assert await store.get("a") is None
    assert await store.hash_get_all("h") == {}


@pytest.mark.unit
async def test_memory_journal_is_owner_only_and_compacted(tmp_path: Path) -> None:
    path = tmp_path / "state" / "durable.jsonl"
    store = MemoryStateStore(durable_path=path)
    for number in range(50):  # the odd ones expire soon
        await store.set_durable(f"k{number}", "1", ttl=0.1 if number % 2 else 60)
    await store.delete("k0", "k10", "k20")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().splitlines()) == 53
    await asyncio.sleep(0.2)
    reopened = MemoryStateStore(durable_path=path)  # reading it back keeps only live records
    alive = {f"k{n}" for n in range(0, 50, 2)} - {"k0", "k10", "k20"}
    assert len(path.read_text().splitlines()) == len(alive)
    assert [k for k in sorted(alive) if await reopened.get(k) != "1"] == []
    assert [n for n in range(50) if f"k{n}" not in alive and await reopened.get(f"k{n}")] == []


@pytest.mark.unit
async def test_memory_journal_ignores_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "durable.jsonl"
    store = MemoryStateStore(durable_path=path)
    await store.set_durable("whole", "1", ttl=60)
    with path.open("a") as journal:
        journal.write('{"key": "cut", "val')  # the process died mid-write
    assert await MemoryStateStore(durable_path=path).get("whole") == "1"


@pytest.mark.unit
async def test_memory_sweep_drops_expired_keys_nobody_reads() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock=clock)
    for i in range(1_000):
        await store.set(f"old:{i}", "v", ttl=1)
    clock.advance(2)
    for i in range(1_100):
        await store.set(f"new:{i}", "v")
    assert len(store) == 1_100
    await store.set("short", "v", ttl=1)
    clock.advance(2)
    assert store.sweep() == 1
