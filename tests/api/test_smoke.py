"""The gateway answers on a real port with real backends."""

from __future__ import annotations

import pytest

from tests.conftest import Api

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


async def test_metrics_label_requests_by_route_template(api: Api) -> None:
    user = await api.user()
    await user.client.get(f"/api/v1/meetings/{user.id}")  # a 404 still has a route template
    metrics = (await api.client.get("/metrics")).text
    assert 'route="/api/v1/meetings/{meeting_id}"' in metrics
    assert 'route="/api/v1/auth/register"' in metrics
    assert str(user.id) not in metrics
