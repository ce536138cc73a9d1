"""The local gateway: every function in one process, the signaling node, metrics, the web client."""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from meeting_functions.ai.routes import ROUTERS as AI_ROUTERS
from meeting_functions.http.app import create_function_app
from meeting_functions.media.blob_routes import ROUTERS as BLOB_ROUTERS
from meeting_functions.media.routes import ROUTERS as MEDIA_ROUTERS
from meeting_functions.meeting.routes import ROUTERS as MEETING_ROUTERS
from meeting_functions.user.routes import ROUTERS as USER_ROUTERS
from meeting_sfu.recording.mixing import MixingWorker
from meeting_sfu.signaling.node import SignalingNode
from meeting_sfu.signaling.node import router as signaling_router
from meeting_shared.container import Container
from meeting_shared.metrics import install_metrics
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
        app.state.background.append(MixingWorker.from_container(app.state.container).run)

    install_metrics(app, settings.metrics_token)
    _serve_web_client(app, settings.web_dir, web_client_policy(settings))
    return app


class _ClientPath(Convertor[str]):
    """Any path but the API's and the sockets': a wrong method on an API path must reach the
    API's router (405 with ``Allow``), not the web client's catch-all (404)."""

    regex = r"(?!(?:api|ws)(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("client_path", _ClientPath())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def web_client_policy(settings: Settings) -> str:
    """The web client's Content-Security-Policy: its own scripts and styles only, sockets to the
    media nodes, uploads to and downloads from the blob store, and no framing (clickjacking)."""
    signaling = sorted({_origin(node.signaling_url) for node in settings.media_nodes})
    blobs = []
    if settings.uses_s3:
        endpoint = settings.s3_public_endpoint or settings.s3_endpoint
        if endpoint:
            blobs.append(_origin(endpoint))
        else:  # AWS: virtual-host addresses
            blobs.append(f"https://{settings.s3_bucket}.s3.{settings.s3_region}.amazonaws.com")
    sources = " ".join(["'self'", *blobs])
    directives = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": f"{sources} blob: data:",  # avatars and thumbnails, previews of picked files
        "media-src": f"{sources} blob:",  # recordings, sounds
        "connect-src": " ".join(["'self'", *signaling, *blobs]),
        "font-src": "'self'",
        "manifest-src": "'self'",
        "form-action": "'self'",
        "base-uri": "'none'",
        "object-src": "'none'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def _serve_web_client(app: FastAPI, web_dir: Path, policy: str) -> None:
    """Static files of ``web/`` when built; unknown paths get ``index.html`` (client routing)."""
    root = web_dir.resolve()
    headers = {"Content-Security-Policy": policy}

    @app.get("/{path:client_path}", include_in_schema=False)
    async def web_client(path: str) -> Response:
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(_NO_CLIENT_PAGE, headers=headers)
        candidate = (root / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            return FileResponse(candidate, headers=headers)
        return FileResponse(index, headers={**headers, "Cache-Control": "no-cache"})
