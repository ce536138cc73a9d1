"""RFC 9457 problem details for every error, with a stable ``code``; never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from meeting_shared.errors import Conflict, MeetingError, RateLimited, Unavailable

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def problem(
    request: Request | None,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:meeting-system:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = request.scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def error_response(request: Request | None, exc: MeetingError) -> JSONResponse:
    headers = None
    if isinstance(exc, RateLimited | Unavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=headers,
        retryable=exc.retryable,
        **exc.extra,
    )


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """``email`` or ``settings.chat`` for body fields (as the domain names them), with the place
    for others: ``query.page_size``, ``path.meeting_id``."""
    parts = [str(part) for part in location]
    if parts and parts[0] == "body":
        parts = parts[1:] or ["body"]
    return ".".join(parts)


async def _meeting_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MeetingError)
    if exc.status >= 500:
        logger.warning("request failed: %s", exc.code)
    return error_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field_path(error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]
    first = errors[0]["field"] if errors else "request"
    return problem(
        request,
        status=422,
        code="validation_failed",
        title="Invalid input",
        detail=f"The request is not valid (first problem at {first})",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _STATUS_CODES.get(exc.status_code, ("http_error", "Request failed"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = exc.headers
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
    return problem(
        request, status=exc.status_code, code=code, title=title, detail=detail, headers=headers
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (the router's own 405 names only
    the first route it found there, and a path often has one route per method)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IntegrityError):  # a concurrent request won a uniqueness race
        return error_response(request, Conflict("The change conflicts with existing data"))
    logger.error("database error", exc_info=exc)
    return error_response(request, Unavailable("The database is not available"))


def internal_error(request: Request) -> JSONResponse:
    """The answer to an error nobody handled (``RequestContextMiddleware`` logs it)."""
    return problem(
        request,
        status=500,
        code="internal_error",
        title="Internal error",
        detail="Something went wrong on our side; it has been logged",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MeetingError, _meeting_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
