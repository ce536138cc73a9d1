"""Login sessions: a refresh-token family in the database plus a revocation mark in the state store.

Access tokens are stateless JWTs; revoking a session marks its id in the state store for as long as
an access token could still be alive, so logout, ban and password change take effect at once. The
mark is durable: it outlives a restart of the gateway, in Redis and in embedded mode alike.

Checking the mark costs a state-store round trip on every request, so a process remembers for a
moment (``recheck_after``) that a session was not revoked. A revocation made by this process
takes effect here at once; other processes see it within ``recheck_after`` seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

from meeting_shared.state import StateStore

MAX_REMEMBERED = 50_000


class SessionRevocations:
    def __init__(
        self,
        state: StateStore,
        *,
        access_ttl: int,
        recheck_after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._ttl = access_ttl + 60  # outlive every access token of the session, with clock skew
        self._recheck_after = recheck_after
        self._clock = clock
        self._valid_until: dict[uuid.UUID, float] = {}

    @staticmethod
    def _key(session_id: uuid.UUID) -> str:
        return f"session:revoked:{session_id}"

    async def revoke(self, session_ids: Iterable[uuid.UUID]) -> None:
        for session_id in set(session_ids):
            self._valid_until.pop(session_id, None)
            await self._state.set_durable(self._key(session_id), "1", ttl=self._ttl)

    async def is_revoked(self, session_id: uuid.UUID) -> bool:
        now = self._clock()
        if self._valid_until.get(session_id, 0.0) > now:
            return False
        revoked = await self._state.get(self._key(session_id)) is not None
        if not revoked and self._recheck_after > 0:
            if len(self._valid_until) >= MAX_REMEMBERED:
                self._valid_until.clear()
            self._valid_until[session_id] = now + self._recheck_after
        return revoked
