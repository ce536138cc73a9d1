"""Pure ASGI middleware (cheaper than ``BaseHTTPMiddleware``): request ids, logs, metrics, CSRF."""

from __future__ import annotations

import logging
import re
import time
import uuid
from http.cookies import SimpleCookie
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meeting_functions.http.problems import error_response
from meeting_shared.errors import Forbidden, PayloadTooLarge
from meeting_shared.logging import request_id_var
from meeting_shared.security import CsrfTokens

logger = logging.getLogger("meeting.access")
API_PREFIX = "/api/v1"

REQUESTS = Counter("http_requests_total", "HTTP requests handled", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Gives each request an id (kept from ``X-Request-ID`` when sane), logs it and times it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = _route_template(scope)
            method = scope["method"]
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "request",
                    extra={
                        "method": method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)


def _route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/meetings/{meeting_id}``), never the raw path, so
    metric labels stay few. Included routers report their template without the prefix."""
    template = getattr(scope.get("route"), "path", None)
    if template is None:
        return "unmatched"
    path: str = scope["path"]
    if path.startswith(API_PREFIX + "/") and not template.startswith(API_PREFIX + "/"):
        template = API_PREFIX + template
    return str(template)


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUTH_COOKIES = ("access_token", "refresh_token")
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Signed-URL endpoints authenticate by signature, not by cookies; the credential endpoints below
# never act on the cookie session (a stale cookie must not stop someone from signing in again).
CSRF_EXEMPT_PREFIXES = ("/api/v1/blobs/",)
CSRF_EXEMPT_PATHS = frozenset(
    {
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/password-reset/request",
        "/api/v1/auth/password-reset/confirm",
    }
)


class CsrfMiddleware:
    """Unsafe requests authenticated by cookie must echo the CSRF cookie in ``X-CSRF-Token``.

    API clients that send ``Authorization: Bearer`` are not exposed to CSRF and skip the check.
    """

    def __init__(self, app: ASGIApp, *, csrf: CsrfTokens) -> None:
        self.app = app
        self.csrf = csrf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in UNSAFE_METHODS
            and self._needs_check(scope)
        ):
            headers = Headers(scope=scope)
            cookies = _cookies(headers)
            if not self.csrf.valid(cookies.get(CSRF_COOKIE), headers.get(CSRF_HEADER)):
                response = error_response(
                    None,
                    Forbidden(
                        "Missing or invalid CSRF token: send the csrf_token cookie's value in "
                        "X-CSRF-Token (GET /api/v1/csrf-token issues one)",
                        code="csrf_failed",
                    ),
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _needs_check(scope: Scope) -> bool:
        path: str = scope["path"]
        if path in CSRF_EXEMPT_PATHS or path.startswith(CSRF_EXEMPT_PREFIXES):
            return False
        headers = Headers(scope=scope)
        if headers.get("authorization", "").lower().startswith("bearer "):
            return False
        cookie_header = headers.get("cookie", "")
        return any(name in cookie_header for name in AUTH_COOKIES)


def _cookies(headers: Headers) -> dict[str, Any]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(headers.get("cookie", ""))
    return {name: morsel.value for name, morsel in jar.items()}


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` before anything buffers them.

    A declared ``Content-Length`` over the limit gets 413 at once; a body without one is counted
    as it streams. Signed blob uploads are exempt: the store enforces their signed size itself.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CSRF_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(None, self._too_large())(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request bodies may be at most {self.max_bytes} bytes")
