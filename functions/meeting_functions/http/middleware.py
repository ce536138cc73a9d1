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
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meeting_functions.http.problems import error_response, internal_error
from meeting_shared.errors import Forbidden, PayloadTooLarge
from meeting_shared.logging import request_id_var
from meeting_shared.security import CsrfTokens

logger = logging.getLogger("meeting.access")
errors = logging.getLogger("meeting.errors")
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
        status_sent: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status_sent
            if message["type"] == "http.response.start":
                status_sent = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Here, not in Starlette's outermost error handler: the request id is still set, so
            # the traceback's log line carries it, and the 500 is counted and timed.
            errors.exception("unhandled error")
            if status_sent is None:
                await internal_error(Request(scope))(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = _route_template(scope)
            method = scope["method"]
            status = 500 if status_sent is None else status_sent
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


def csrf_applies(path: str) -> bool:
    """Whether unsafe requests to ``path`` signed in by cookie must carry the CSRF token."""
    return not (path in CSRF_EXEMPT_PATHS or path.startswith(CSRF_EXEMPT_PREFIXES))


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
        if not csrf_applies(scope["path"]):
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
    """Refuse request bodies over ``max_bytes`` with 413, before a route reads them.

    A declared ``Content-Length`` over the limit gets 413 at once. A body without one (chunked)
    is read here, up to the limit, and handed on whole: refusing it halfway through a route's own
    read would surface as the route's parse error (400), not as 413. Signed blob uploads are
    exempt: the store enforces their signed size itself.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CSRF_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server stops at the declared length
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([whole], then=receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = PayloadTooLarge(f"Request bodies may be at most {self.max_bytes} bytes")
        await error_response(None, too_large)(scope, receive, send)


def _replay(messages: list[Message], *, then: Receive | None = None) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then (for the disconnect) ``then``'s."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


# No page of ours may be framed (clickjacking), and an API answer is no document: it loads
# nothing. Pages that do load things (the web client, the API docs) send their own policy.
# No Referer leaves either: a page's address can hold an invite token (/join/{id}?invite=...).
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
_SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", API_CONTENT_SECURITY_POLICY.encode()),
)


class SecurityHeadersMiddleware:
    """Adds ``X-Frame-Options``, ``X-Content-Type-Options``, ``Referrer-Policy`` and a CSP to
    every HTTP answer that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in _SECURITY_HEADERS if item[0] not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)
