"""The OpenAPI document and its docs page: every operation lists the problem responses
(``application/problem+json``) it can give, derived in one place from what the route is made of.

A route's statuses follow from its parts, so route modules declare none of them:

- its dependencies (``DEPENDENCY_ERRORS``, ``SERVICE_ERRORS``): signing in gives 401, an
  administrator check 403, a service its refusals, lookups, conflicts and rate limits; its tag
  (``TAG_ERRORS``) where routes use the container directly;
- its parameters: any gives 422, a path parameter 404, a body 400 (unparsable) and 413
  (``BodyLimitMiddleware``);
- its method: unsafe requests signed in by cookie need a CSRF token (403, ``CsrfMiddleware``);
- every operation may meet a backing service that is down (503).

A status the route declares itself (``responses=``) keeps its description; it gets the problem
content only where it named none.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from meeting_functions.http import deps
from meeting_functions.http.middleware import UNSAFE_METHODS, csrf_applies
from meeting_functions.http.problems import PROBLEM_JSON
from meeting_shared.services.recordings import RecordingService

# What each dependency can refuse a request with, beyond what the route's shape gives.
DEPENDENCY_ERRORS: Mapping[Callable[..., Any], frozenset[int]] = {
    deps.current_actor: frozenset({401}),
    deps.current_admin: frozenset({403}),
    deps.account_service: frozenset({401, 403, 404, 409, 429}),
    deps.user_admin_service: frozenset({403, 404, 409}),
    deps.avatar_service: frozenset({404, 415}),
    deps.meeting_service: frozenset({403, 404, 409}),
    deps.attendance_service: frozenset({403, 404, 409, 429}),
    deps.chat_service: frozenset({403, 404, 409, 429}),
    deps.media_service: frozenset({403, 404, 409, 415}),
}
# Services a route module builds itself, by the class its dependency returns.
SERVICE_ERRORS: Mapping[type, frozenset[int]] = {
    RecordingService: frozenset({403, 404, 409}),
}
# The AI routes call the nodes through the container: its rate limit, and a model not served.
TAG_ERRORS: Mapping[str, frozenset[int]] = {"ai": frozenset({429, 501})}
ALWAYS = frozenset({503})


class ProblemFieldError(BaseModel):
    field: str | None = Field(description="Where: `email`, `settings.chat`, `query.page_size`")
    message: str
    type: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document (docs/errors.md); clients branch on ``code``."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(examples=["urn:meeting-system:problem:meeting_full"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code (docs/errors.md)")
    retryable: bool | None = Field(default=None, description="Whether trying again may help")
    instance: str | None = Field(default=None, description="The path that was asked for")
    request_id: str | None = Field(default=None, description="Also in X-Request-ID and the log")
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="What was invalid, for 422"
    )


_DESCRIPTIONS = {
    400: "The body cannot be parsed (not UTF-8, or not the declared form)",
    401: "Not signed in, or the session has ended",
    403: "Not allowed (role, meeting policy, or a missing CSRF token with cookie sign-in)",
    404: "No such resource, or not visible to the caller",
    409: "Conflicts with the resource's state",
    413: "The request body is too large",
    415: "The content type is not accepted",
    422: "The request is not valid",
    429: "Too many requests: wait Retry-After seconds",
    501: "Not served by this installation (no model for it)",
    503: "A backing service is unavailable: retry after Retry-After seconds",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
}


def route_errors(route: APIRoute, *, prefix: str) -> frozenset[int]:
    """The error statuses ``route`` (included under ``prefix``) can answer with."""
    statuses = set(ALWAYS)
    methods = route.methods or set()
    dependants = [route.dependant, *_walk(route.dependant)]
    for dependant in dependants:
        if dependant.call is not None:
            statuses.update(_dependency_errors(dependant.call))
    for tag in route.tags:
        statuses.update(TAG_ERRORS.get(str(tag), frozenset()))
    if any(
        d.path_params or d.query_params or d.header_params or d.cookie_params or d.body_params
        for d in dependants
    ):
        statuses.add(422)
    if any(d.path_params for d in dependants):
        statuses.add(404)
    if methods & {"POST", "PUT", "PATCH"} or any(d.body_params for d in dependants):
        statuses.update((400, 413))  # a body that cannot be parsed, or one over the limit
    if methods & UNSAFE_METHODS and csrf_applies(prefix + route.path_format):
        statuses.add(403)
    return frozenset(statuses)


def _dependency_errors(call: Callable[..., Any]) -> frozenset[int]:
    known = DEPENDENCY_ERRORS.get(call)
    if known is not None:
        return known
    try:
        returned = inspect.signature(call, eval_str=True).return_annotation
    except (NameError, TypeError, ValueError):  # not a function, or a hint it cannot resolve
        return frozenset()
    return SERVICE_ERRORS.get(returned, frozenset()) if isinstance(returned, type) else frozenset()


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


def _problem_response(status: int, declared: Mapping[str, Any] | None) -> dict[str, Any]:
    response = dict(declared or {})
    response.setdefault("description", _DESCRIPTIONS.get(status, HTTPStatus(status).phrase))
    content = dict(response.get("content") or {})
    content.setdefault(PROBLEM_JSON, {"schema": {"$ref": "#/components/schemas/Problem"}})
    response["content"] = content
    if status in (429, 503):
        response["headers"] = {**_RETRY_AFTER, **response.get("headers", {})}
    return response


def build_openapi(app: FastAPI, routers: Sequence[APIRouter], prefix: str) -> dict[str, Any]:
    """The app's OpenAPI document with the problem responses of every operation of ``routers``
    (included under ``prefix``); built once."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    # FastAPI's own 422 schema is not what our handler sends: ours replaces it.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            operations = document["paths"].get(prefix + route.path_format, {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status in sorted(route_errors(route, prefix=prefix)):
                    responses[str(status)] = _problem_response(status, responses.get(str(status)))
    app.openapi_schema = document
    return document


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def install_openapi(
    app: FastAPI, routers: Sequence[APIRouter], *, prefix: str, docs_path: str
) -> None:
    """``app.openapi`` becomes ``build_openapi``; Swagger UI at ``docs_path`` under a policy that
    lets it load its bundle and run its one inline script (by hash), and nothing else."""
    app.openapi = lambda: build_openapi(app, routers, prefix)  # type: ignore[method-assign]
    openapi_url = app.openapi_url or f"{prefix}/openapi.json"
    page = get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} API")
    html = bytes(page.body).decode()
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    policy = (
        "default-src 'none'; "
        f"script-src https://cdn.jsdelivr.net {hashes}; "
        "style-src https://cdn.jsdelivr.net 'unsafe-inline'; "
        "img-src 'self' data: https://fastapi.tiangolo.com; "
        "font-src data: https://cdn.jsdelivr.net; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    )

    @app.get(docs_path, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})
