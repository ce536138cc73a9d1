"""Settings: embedded defaults, parsing, and refusing placeholder secrets in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from meeting_shared.settings import DEV_JWT_SECRET, Settings, parse_rate

pytestmark = pytest.mark.unit

STRONG = "k" * 48


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_embedded_defaults() -> None:
    built = settings(data_dir=Path("/srv/meeting"))
    assert built.database_url == "sqlite+aiosqlite:////srv/meeting/meeting.db"
    assert not built.uses_redis and not built.uses_s3
    assert built.public_url == "http://127.0.0.1:8800"
    assert built.allowed_origins == ["http://127.0.0.1:8800"]
    assert [node.signaling_url for node in built.media_nodes] == [
        "ws://127.0.0.1:8800/ws/signaling"
    ]
    assert built.cookies_secure is False


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("MEDIA_NODES", '[{"id": "n1", "signaling_url": "wss://n1/ws/signaling"}]')
    monkeypatch.setenv("PUBLIC_URL", "https://meet.example/")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    built = Settings(_env_file=None)
    assert built.allowed_origins == ["https://a.example", "https://b.example"]
    assert built.media_nodes[0].id == "n1"
    assert built.public_url == "https://meet.example"
    assert built.uses_redis


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({}, "JWT_SECRET"),
        ({"jwt_secret": "short-secret"}, "JWT_SECRET"),
        ({"jwt_secret": STRONG, "s3_endpoint": "http://s3", "s3_access_key": "minioadmin",
          "s3_secret_key": "minioadmin"}, "S3_ACCESS_KEY"),
        ({"jwt_secret": STRONG, "s3_endpoint": "http://s3", "s3_access_key": "AKIAREAL",
          "s3_secret_key": ""}, "S3_ACCESS_KEY"),
    ],
)  # fmt: skip
def test_production_refuses_placeholders(values: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        settings(environment="production", **values)


def test_production_accepts_real_secrets() -> None:
    built = settings(
        environment="production",
        jwt_secret=STRONG,
        s3_endpoint="https://s3.example",
        s3_access_key="AKIAEXAMPLEKEY",
        s3_secret_key="a-real-long-secret-key",
    )
    assert built.cookies_secure and built.uses_s3
    assert built.jwt_secret != DEV_JWT_SECRET


def test_rate_specs() -> None:
    assert parse_rate("10/60") == (10, 60.0)
    for bad in ("10", "x/60", "0/60", "10/0"):
        with pytest.raises(ValueError, match="rate limit"):
            parse_rate(bad)
    with pytest.raises(ValidationError):
        settings(rate_limit_login="lots")
