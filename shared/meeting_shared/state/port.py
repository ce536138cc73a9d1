"""The state-store port.

Embedded mode keeps this state in the process; production keeps it in Redis so that every gateway
worker, Lambda and media node sees the same sessions, rate limits and room presence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Outcome of one hit on a rate limit."""

    allowed: bool
    remaining: int
    retry_after: float  # seconds until the next hit may succeed; 0 when allowed


class StateStore(Protocol):
    """Key/value, hash and counter operations with expiry. Keys are plain strings."""

    async def get(self, key: str) -> str | None: ...

    async def get_many(self, keys: list[str]) -> list[str | None]:
        """Values for ``keys`` in order, in one round trip."""
        ...

    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        """Set ``key`` only if it does not exist; True when this call set it."""
        ...

    async def set_durable(self, key: str, value: str, ttl: float) -> None:
        """``set`` for a value that must outlive a restart of this process until ``ttl`` runs out
        (a session's revocation). Redis keeps every key on its server; the in-process store
        also writes these to a file. A later ``set`` or ``delete`` of the key replaces it there
        too."""
        ...

    async def delete(self, *keys: str) -> None: ...

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        """Count one event against ``limit`` events per ``window`` seconds (sliding window)."""
        ...

    async def spend(self, key: str, amount: float, limit: int, window: float) -> RateDecision:
        """Take ``amount`` units (e.g. seconds of audio) from a budget of ``limit`` units per
        ``window`` seconds that refills evenly (GCRA): all of it or, refused, nothing.
        ``remaining`` counts whole units left; ``amount`` above ``limit`` is a ``ValueError``."""
        ...

    async def hash_set(self, key: str, field: str, value: str, ttl: float | None = None) -> None:
        """Set one field of a hash; ``ttl`` (if given) refreshes the whole hash's expiry."""
        ...

    async def hash_delete(self, key: str, field: str) -> None: ...

    async def hash_get_all(self, key: str) -> dict[str, str]: ...

    # A generational cache: a hash whose "gen" field counts invalidations and whose other fields
    # are values computed at some generation. Readers read the generation *before* computing a
    # value and store it only if no invalidation happened meanwhile, so a change that commits
    # while a reader computes can never be overwritten by the stale result.

    async def cache_read(self, key: str, field: str) -> tuple[int, str | None]:
        """The current generation of ``key`` and the value of ``field`` at it (one round trip)."""
        ...

    async def cache_write(
        self, key: str, generation: int, field: str, value: str, ttl: float
    ) -> bool:
        """Store ``value`` if ``key`` is still at ``generation``; False when it moved on."""
        ...

    async def cache_invalidate(self, keys: list[str], ttl: float) -> None:
        """Move each key to its next generation, dropping every value it held."""
        ...

    async def ping(self) -> None:
        """Raise ``Unavailable`` when the store cannot be reached."""
        ...

    async def aclose(self) -> None: ...
