"""Login sessions: a refresh-token family in the database plus a revocation mark in the state store.

Access tokens are stateless JWTs; revoking a session marks its id in the state store for as long as
an access token could still be alive, so logout, ban and password change take effect at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from meeting_shared.state import StateStore


class SessionRevocations:
    def __init__(self, state: StateStore, *, access_ttl: int) -> None:
        self._state = state
        self._ttl = access_ttl + 60  # outlive every access token of the session, with clock skew

    @staticmethod
    def _key(session_id: uuid.UUID) -> str:
        return f"session:revoked:{session_id}"

    async def revoke(self, session_ids: Iterable[uuid.UUID]) -> None:
        for session_id in set(session_ids):
            await self._state.set(self._key(session_id), "1", ttl=self._ttl)

    async def is_revoked(self, session_id: uuid.UUID) -> bool:
        return await self._state.get(self._key(session_id)) is not None
