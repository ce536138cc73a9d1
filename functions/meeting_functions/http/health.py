"""``/health``: is every dependency of this process reachable?"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from meeting_functions.http.deps import ContainerDep
from meeting_shared import media_probe
from meeting_shared.errors import MeetingError, Unavailable

health = APIRouter(tags=["health"])
CHECK_TIMEOUT_SECONDS = 3.0


async def _media_tools() -> None:
    if not media_probe.tools_available():
        raise Unavailable("ffprobe/ffmpeg are not installed")


async def _check(probe: Callable[[], Awaitable[None]]) -> dict[str, object]:
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return {"ok": False, "detail": "timed out"}
    except MeetingError as exc:
        return {"ok": False, "detail": exc.detail}
    except Exception as exc:
        return {"ok": False, "detail": type(exc).__name__}
    return {"ok": True}


@health.get(
    "/health",
    responses={
        503: {
            "description": "A dependency is down: the same body, the failing checks not ok",
            "content": {"application/json": {}},
        }
    },
)
async def health_check(container: ContainerDep) -> JSONResponse:
    """200 when every dependency answers, 503 (with the failing ones) when not."""
    names = ("database", "state", "blobs", "media_tools")
    probes = (container.db.ping, container.state.ping, container.blobs.ping, _media_tools)
    results = await asyncio.gather(*(_check(probe) for probe in probes))
    checks = dict(zip(names, results, strict=True))
    healthy = all(result["ok"] for result in results)
    body = {
        "status": "ok" if healthy else "unavailable",
        "environment": container.settings.environment,
        "backends": {
            "database": container.db.dialect,
            "state": "redis" if container.settings.uses_redis else "memory",
            "blobs": "s3" if container.settings.uses_s3 else "local",
        },
        "checks": checks,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)
