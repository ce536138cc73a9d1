"""The embedded state store: everything in one process's memory.

Values, hashes and rate-limit logs live in one dict so that, as in Redis, a key holds one kind of
value at a time. Expiry is lazy (checked on every access) plus an amortised full sweep, so keys
that are never read again still get dropped. Every method does its read-modify-write without
awaiting, which is what makes it safe under asyncio without locks.

Rate limits use an exact sliding log: one deque of hit times per key, holding at most ``limit``
entries because refused hits are not recorded. The Redis adapter runs the same algorithm.

Durable keys (``set_durable``: revocations) are also appended to a journal file, so that they
outlive the process as they outlive a gateway in Redis; a new store reads them back.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from meeting_shared.state.port import RateDecision

_T = TypeVar("_T", str, dict[str, str], deque[float])

# Hit times are floats from an arbitrary clock; a hit counts as out of the window this much early
# so that ``now + retry_after`` lands past the boundary despite floating-point rounding.
_WINDOW_SLACK = 1e-6

# A full sweep runs once the writes since the last one reach the number of keys (at least this),
# which keeps its cost O(1) amortised per write and the dead entries at most about the live ones.
_SWEEP_MIN_WRITES = 1024

# The field of a generational cache hash that holds its generation (see StateStore.cache_read).
_GENERATION = "gen"

# The journal is rewritten with only its live records once this many were appended since.
_COMPACT_AFTER_APPENDS = 4096


@dataclass(slots=True)
class _Entry:
    value: str | dict[str, str] | deque[float]
    expires_at: float | None


class DurableJournal:
    """Durable keys as JSON lines ``{"key", "value", "expires"}`` (wall-clock expiry; a null
    value deletes), appended as they are written and compacted when read or grown.

    Appends and compactions hold an exclusive lock on a file beside it, so that several
    processes on one ``DATA_DIR`` (the gateway, ``meeting admin``) never lose a record.
    Records are written but not fsynced: they survive the process, not a power cut.
    """

    def __init__(self, path: Path, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._wall_clock = wall_clock
        self._appends = 0
        path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[str, tuple[str, float]]:
        """The live records (value, wall-clock expiry) by key; rewrites the file with only them."""
        with self._locked():
            return self._compact()

    def append(self, key: str, value: str | None, expires: float) -> None:
        line = json.dumps({"key": key, "value": value, "expires": expires}) + "\n"
        with self._locked():
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line.encode())
            finally:
                os.close(descriptor)
            self._appends += 1
            if self._appends >= _COMPACT_AFTER_APPENDS:
                self._compact()

    def _compact(self) -> dict[str, tuple[str, float]]:
        now = self._wall_clock()
        records: dict[str, tuple[str | None, float]] = {}
        with contextlib.suppress(FileNotFoundError), self.path.open(encoding="utf-8") as file:
            for line in file:
                try:
                    record = json.loads(line)
                    records[str(record["key"])] = (record["value"], float(record["expires"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash: the others still count
        live = {
            key: (value, expires)
            for key, (value, expires) in records.items()
            if value is not None and expires > now
        }
        draft = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            for key, (value, expires) in live.items():
                file.write(json.dumps({"key": key, "value": value, "expires": expires}) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(draft, self.path)
        self._appends = 0
        return live

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock


class MemoryStateStore:
    """A ``StateStore`` for a single process; ``clock`` (seconds, monotonic) is injectable.

    With ``durable_path`` the keys written by ``set_durable`` are journaled there and read back
    by the next store on the same path; without it they last as long as the process.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        durable_path: Path | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: dict[str, _Entry] = {}
        self._writes_since_sweep = 0
        self._durable: set[str] = set()
        self._journal = (
            DurableJournal(durable_path, wall_clock=wall_clock) if durable_path else None
        )
        if self._journal is not None:
            offset = self._clock() - wall_clock()  # wall-clock expiry -> this store's clock
            for key, (value, expires) in self._journal.load().items():
                self._entries[key] = _Entry(value, expires + offset)
                self._durable.add(key)

    async def get(self, key: str) -> str | None:
        return self._value(key, str)

    async def get_many(self, keys: list[str]) -> list[str | None]:
        # Like MGET: a key holding a hash or a rate log reads as missing rather than an error.
        entries = [self._live(key) for key in keys]
        return [e.value if e is not None and isinstance(e.value, str) else None for e in entries]

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._store(key, _Entry(value, self._deadline(ttl)))

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        expires_at = self._deadline(ttl)
        if self._live(key) is not None:
            return False
        self._store(key, _Entry(value, expires_at))
        return True

    async def set_durable(self, key: str, value: str, ttl: float) -> None:
        check_ttl(ttl)
        self._store(key, _Entry(value, self._deadline(ttl)), durable=True)
        if self._journal is not None:
            self._journal.append(key, value, self._wall_clock() + ttl)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)
            self._forget_durable(key)

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        check_rate(limit, window)
        now = self._clock()
        log = self._value(key, deque)
        if log is None:
            log = deque()
            self._store(key, _Entry(log, None))
        cutoff = now - window + _WINDOW_SLACK
        while log and log[0] <= cutoff:
            log.popleft()
        if len(log) < limit:
            log.append(now)
            self._entries[key].expires_at = now + window
            return RateDecision(allowed=True, remaining=limit - len(log), retry_after=0.0)
        # The hit that must leave the window before the count drops below ``limit``; usually the
        # oldest, unless ``limit`` shrank since the log was filled.
        pivot = log[len(log) - limit]
        retry_after = min(window, pivot + window - now)
        return RateDecision(allowed=False, remaining=0, retry_after=retry_after)

    async def spend(self, key: str, amount: float, limit: int, window: float) -> RateDecision:
        # GCRA: the key holds the time at which the budget would be whole again ("theoretical
        # arrival time"); each unit pushes it window/limit seconds on, at most a window ahead.
        check_spend(amount, limit, window)
        now = self._clock()
        stored = self._value(key, str)
        whole_at = max(float(stored), now) if stored is not None else now
        pushed = whole_at + amount * window / limit
        debt = pushed - now
        if debt > window + _WINDOW_SLACK:
            return RateDecision(allowed=False, remaining=0, retry_after=debt - window)
        self._store(key, _Entry(repr(pushed), now + debt))
        return RateDecision(allowed=True, remaining=units_left(debt, limit, window), retry_after=0)

    async def hash_set(self, key: str, field: str, value: str, ttl: float | None = None) -> None:
        expires_at = self._deadline(ttl)
        fields = self._value(key, dict)
        if fields is None:
            fields = {}
            self._store(key, _Entry(fields, expires_at))
        elif ttl is not None:
            self._entries[key].expires_at = expires_at
        fields[field] = value

    async def hash_delete(self, key: str, field: str) -> None:
        fields = self._value(key, dict)
        if fields is None:
            return
        fields.pop(field, None)
        if not fields:
            # Redis drops a hash with no fields left; do the same so exists/absent semantics match.
            del self._entries[key]

    async def hash_get_all(self, key: str) -> dict[str, str]:
        fields = self._value(key, dict)
        return dict(fields) if fields is not None else {}

    async def cache_read(self, key: str, field: str) -> tuple[int, str | None]:
        fields = self._value(key, dict) or {}
        generation = fields.get(_GENERATION, "0")
        return int(generation), fields.get(f"{generation}:{field}")

    async def cache_write(
        self, key: str, generation: int, field: str, value: str, ttl: float
    ) -> bool:
        fields = self._value(key, dict) or {}
        if int(fields.get(_GENERATION, "0")) != generation:
            return False
        fields = {**fields, _GENERATION: str(generation), f"{generation}:{field}": value}
        self._store(key, _Entry(fields, self._deadline(ttl)))
        return True

    async def cache_invalidate(self, keys: list[str], ttl: float) -> None:
        for key in keys:
            fields = self._value(key, dict) or {}
            generation = int(fields.get(_GENERATION, "0")) + 1
            self._store(key, _Entry({_GENERATION: str(generation)}, self._deadline(ttl)))

    async def ping(self) -> None:
        """Always reachable: the state is in this process."""

    async def aclose(self) -> None:
        self._entries.clear()

    def sweep(self) -> int:
        """Drop every expired entry now; returns how many were dropped."""
        now = self._clock()
        expired = [
            key
            for key, entry in self._entries.items()
            if entry.expires_at is not None and entry.expires_at <= now
        ]
        for key in expired:
            del self._entries[key]
            self._durable.discard(key)  # expired in the journal too
        self._writes_since_sweep = 0
        return len(expired)

    def __len__(self) -> int:
        """Entries held, including expired ones not yet dropped."""
        return len(self._entries)

    def _deadline(self, ttl: float | None) -> float | None:
        if ttl is None:
            return None
        check_ttl(ttl)
        return self._clock() + ttl

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._entries[key]
            self._durable.discard(key)  # expired in the journal too
            return None
        return entry

    def _value(self, key: str, kind: type[_T]) -> _T | None:
        entry = self._live(key)
        if entry is None:
            return None
        if not isinstance(entry.value, kind):
            raise TypeError(f"key holds a {type(entry.value).__name__}, not a {kind.__name__}")
        return entry.value

    def _store(self, key: str, entry: _Entry, *, durable: bool = False) -> None:
        if durable:
            self._durable.add(key)
        else:
            self._forget_durable(key)
        self._entries[key] = entry
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= max(_SWEEP_MIN_WRITES, len(self._entries)):
            self.sweep()

    def _forget_durable(self, key: str) -> None:
        """A durable key deleted or replaced by a plain value: the journal must not revive it."""
        if key in self._durable:
            self._durable.discard(key)
            if self._journal is not None:
                self._journal.append(key, None, 0.0)


def check_ttl(ttl: float) -> None:
    """Reject a ttl that Redis would reject, so both adapters fail the same way."""
    if ttl <= 0:
        raise ValueError("ttl must be positive")


def check_spend(amount: float, limit: int, window: float) -> None:
    """Reject a spend that could never be allowed, or costs nothing."""
    check_rate(limit, window)
    if not 0 < amount <= limit:
        raise ValueError("amount must be positive and at most the limit")


def units_left(debt: float, limit: int, window: float) -> int:
    """Whole units of a GCRA budget still free with ``debt`` seconds of it spent."""
    return max(0, int((window - debt) * limit / window + _WINDOW_SLACK))


def check_rate(limit: int, window: float) -> None:
    """Reject a rate limit that could never allow a hit."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if window <= 0:
        raise ValueError("window must be positive")
