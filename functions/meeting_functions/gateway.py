"""The local gateway: every function in one process, the signaling node, metrics, the web client."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from meeting_functions.ai.routes import ROUTERS as AI_ROUTERS
from meeting_functions.http.app import create_function_app
from meeting_functions.media.blob_routes import ROUTERS as BLOB_ROUTERS
from meeting_functions.media.routes import ROUTERS as MEDIA_ROUTERS
from meeting_functions.meeting.routes import ROUTERS as MEETING_ROUTERS
from meeting_functions.user.routes import ROUTERS as USER_ROUTERS
from meeting_sfu.mixing import MixingWorker
from meeting_sfu.signaling import SignalingNode
from meeting_sfu.signaling import router as signaling_router
from meeting_shared.container import Container
from meeting_shared.settings import Settings, get_settings

_NO_CLIENT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>meeting-system</title></head><body><h1>meeting-system</h1>
<p>The API is running. The web client is not built yet; see
<a href="/api/docs">the API docs</a>.</p>
</body></html>"""


def create_gateway(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_function_app(
        title="meeting-system",
        routers=(*USER_ROUTERS, *MEETING_ROUTERS, *MEDIA_ROUTERS, *BLOB_ROUTERS, *AI_ROUTERS),
        settings=settings,
        container=container,
        source="gateway",
    )

    if settings.embedded_media_node:  # this process is also a media node (NODE_ID)
        app.state.signaling = SignalingNode(app.state.container, settings.node_id)
        app.state.background.append(app.state.signaling.heartbeat)
        app.include_router(signaling_router)

    if settings.embedded_ai_node:  # and an AI node (Triton on this machine's CPU or GPU)
        from meeting_gpu.app import embedded_ai_node, serve_embedded

        embedded_ai_node(app.state.container)
        app.state.background.append(functools.partial(serve_embedded, app.state.container))

    if settings.embedded_recording_worker:  # and mixes recordings (ffmpeg, in a thread)
        app.state.background.append(MixingWorker(app.state.container).run)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    _serve_web_client(app, settings.web_dir)
    return app


def _serve_web_client(app: FastAPI, web_dir: Path) -> None:
    """Static files of ``web/`` when built; unknown paths get ``index.html`` (client routing)."""
    root = web_dir.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def web_client(path: str, request: Request) -> Response:
        if path.startswith(("api/", "ws/")):
            raise HTTPException(status_code=404, detail="No such endpoint")
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(_NO_CLIENT_PAGE)
        candidate = (root / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
