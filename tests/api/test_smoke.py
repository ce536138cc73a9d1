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
