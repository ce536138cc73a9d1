"""The gateway answers on a real port with real backends."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter

from meeting_functions.http.app import create_function_app
from meeting_shared.logging import json_log_handler
from tests.api.problems import expect_problem
from tests.support.api import Api

pytestmark = pytest.mark.integration


async def test_health_reports_every_backend(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["backends"] == {"database": "postgresql", "state": "redis", "blobs": "s3"}
    assert all(check["ok"] for check in body["checks"].values())


async def test_register_login_and_me(api: Api) -> None:
    user = await api.user()
    response = await user.client.get("/api/v1/users/me")
    assert response.status_code == 200
    assert response.json()["username"] == user.username


async def test_oversized_and_malformed_bodies_get_problem_details(api: Api) -> None:
    huge = await api.client.post(
        "/api/v1/auth/login",
        content=b"{" + b" " * (6 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    assert huge.json()["code"] == "payload_too_large"
    broken = await api.client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["code"] == "validation_failed"
    unknown = await api.client.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    wrong_method = await api.client.put("/api/v1/auth/login")
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"


async def test_a_chunked_body_over_the_limit_gets_413(api: Api) -> None:
    """Without Content-Length the body is counted as it arrives: over the limit is 413, as for a
    declared length, not the route's parse error."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"{"
        for _ in range(6 * 16):
            yield b" " * 65536
        yield b"}"

    huge = await api.client.post(
        "/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in huge.request.headers
    expect_problem(huge, 413, "payload_too_large")
    small = await api.client.post(
        "/api/v1/auth/login",
        content=_once(b'{"login": "nobody", "password": "not the password"}'),
        headers={"Content-Type": "application/json"},
    )
    expect_problem(small, 401, "invalid_credentials")  # a chunked body within it is read


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def test_a_wrong_method_on_an_api_path_gets_405_with_allow(api: Api) -> None:
    user = await api.user()
    for method, path, allowed in (
        ("GET", "/api/v1/auth/login", {"POST"}),
        ("PUT", "/api/v1/meetings", {"GET", "POST"}),
        ("POST", "/api/v1/users/me", {"GET", "PATCH", "DELETE"}),
    ):
        response = await user.client.request(method, path)
        expect_problem(response, 405, "method_not_allowed")
        assert set(response.headers["allow"].replace(" ", "").split(",")) >= allowed
    expect_problem(await user.client.get("/api/v1/auth/no-such-thing"), 404, "not_found")
    expect_problem(await user.client.get("/api"), 404, "not_found")


async def test_pages_and_answers_cannot_be_framed(api: Api) -> None:
    """Clickjacking: no answer may be framed by another site; API answers load nothing, and the
    web client's page has a policy of its own."""
    for path in ("/", "/meetings/some-page", "/api/v1/csrf-token", "/api/v1/no-such-thing"):
        response = await api.client.get(path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "no-referrer", path  # invite links
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
        assert "default-src 'none'" in policy, path
    page = await api.client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    docs = await api.client.get("/api/docs")
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


async def test_metrics_need_the_metrics_token(api: Api) -> None:
    """The business counters are for Prometheus, not for whoever reaches the gateway."""
    expect_problem(await api.client.get("/metrics"), 401, "unauthenticated")
    wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer guessed"})
    expect_problem(wrong, 401, "unauthenticated")
    user = await api.user()
    expect_problem(await user.client.get("/metrics"), 401, "unauthenticated")


async def test_metrics_label_requests_by_route_template(api: Api) -> None:
    user = await api.user()
    await user.client.get(f"/api/v1/meetings/{user.id}")  # a 404 still has a route template
    token = api.server.settings.metrics_token
    metrics = (await api.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})).text
    assert 'route="/api/v1/meetings/{meeting_id}"' in metrics
    assert 'route="/api/v1/auth/register"' in metrics
    assert str(user.id) not in metrics


async def test_an_unhandled_error_is_logged_with_its_request_id(api: Api) -> None:
    """The traceback's log line names the request (the id the client got back), and the client
    gets a 500 problem without the trace."""
    failing = APIRouter()

    @failing.get("/explode")
    async def explode() -> None:
        raise RuntimeError("a bug")

    app = create_function_app(
        title="failing",
        routers=[failing],
        settings=api.server.settings,
        container=api.server.container,
    )
    stream = io.StringIO()
    handler = json_log_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/api/v1/explode", headers={"X-Request-ID": "trace-me-42"})
    finally:
        root.removeHandler(handler)
    body = expect_problem(response, 500, "internal_error")
    assert "a bug" not in response.text
    assert body["request_id"] == response.headers["x-request-id"] == "trace-me-42"
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    errors = [r for r in records if r["level"] == "ERROR"]
    assert errors, records
    assert all(r["request_id"] == "trace-me-42" for r in errors), errors
    assert any("RuntimeError: a bug" in r.get("exc_info", "") for r in errors), errors
