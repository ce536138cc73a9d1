"""AI nodes that are alive, and what each serves: heartbeats in the state store.

Callers try nodes in order of load; an outage is found by the health check or the failed call and
the next node is tried. Nodes listed in ``AI_NODE_URLS`` are always candidates (a deployment may
run Triton nodes that do not beat, e.g. behind a load balancer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from meeting_shared.state import StateStore

NODES_KEY = "ai:nodes"


class AiNodeStatus(BaseModel):
    id: str
    url: str  # Triton's HTTP endpoint, e.g. http://10.0.0.5:8000
    models: dict[str, str] = {}  # served model -> device ("cuda" or "cpu")
    in_flight: int = 0  # requests being computed now
    served: int = 0  # requests answered since the node started
    seen_at: float = 0.0


class AiNodeDirectory:
    def __init__(
        self,
        state: StateStore,
        configured: Sequence[str],
        *,
        stale_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._configured = [url.rstrip("/") for url in configured]
        self._stale_after = stale_after
        self._clock = clock

    async def heartbeat(self, status: AiNodeStatus) -> None:
        status = status.model_copy(update={"seen_at": self._clock()})
        await self._state.hash_set(
            NODES_KEY, status.id, status.model_dump_json(), ttl=self._stale_after * 20
        )

    async def forget(self, node_id: str) -> None:
        await self._state.hash_delete(NODES_KEY, node_id)

    async def live(self) -> list[AiNodeStatus]:
        cutoff = self._clock() - self._stale_after
        records = await self._state.hash_get_all(NODES_KEY)
        statuses = [AiNodeStatus.model_validate_json(value) for value in records.values()]
        return [status for status in statuses if status.seen_at >= cutoff]

    async def candidates(self, model: str) -> list[AiNodeStatus]:
        """Nodes to try for ``model``, least loaded first, then the configured ones."""
        live = sorted(
            (status for status in await self.live() if model in status.models),
            key=lambda status: (status.in_flight, status.id),
        )
        seen = {status.url for status in live}
        configured = [AiNodeStatus(id=url, url=url) for url in self._configured if url not in seen]
        return live + configured
