"""Named rate limits over the state store; exceeding one raises ``RateLimited``.

``check`` counts calls (COUNT per SECONDS); ``spend`` takes an amount of work (e.g. seconds of
audio) from a budget of COUNT units per SECONDS that refills evenly."""

from __future__ import annotations

from meeting_shared.errors import RateLimited
from meeting_shared.settings import parse_rate
from meeting_shared.state import StateStore


class RateLimiter:
    def __init__(self, state: StateStore, limits: dict[str, str]) -> None:
        self._state = state
        self._limits = {name: parse_rate(spec) for name, spec in limits.items()}

    async def check(self, name: str, subject: str) -> None:
        """Count one hit of ``subject`` (an IP, an account, ...) against the limit ``name``."""
        limit, window = self._limits[name]
        decision = await self._state.hit(f"rate:{name}:{subject}", limit, window)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)

    async def spend(self, name: str, subject: str, amount: float) -> None:
        """Take ``amount`` units of ``subject``'s budget ``name``; refused whole when it does not
        fit (``RateLimited`` with the wait until it does)."""
        limit, window = self._limits[name]
        decision = await self._state.spend(f"rate:{name}:{subject}", amount, limit, window)
        if not decision.allowed:
            raise RateLimited(
                decision.retry_after, "Too much audio for now; try again after Retry-After"
            )
