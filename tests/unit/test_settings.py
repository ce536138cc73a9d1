"""Settings: embedded defaults, parsing, and refusing placeholder secrets in production."""

from __future__ import annotations

import os
import stat
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from meeting_shared.blobs.local import LocalBlobStore
from meeting_shared.container import Container
from meeting_shared.errors import Forbidden, Unauthenticated
from meeting_shared.security import CsrfTokens, Sealer, TokenService, derive_key
from meeting_shared.settings import (
    JWT_SECRET_FILE,
    PUBLIC_JWT_SECRETS,
    Settings,
    load_or_create_secret,
    parse_rate,
)

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
        ({"jwt_secret": next(iter(PUBLIC_JWT_SECRETS))}, "JWT_SECRET"),
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
    assert built.signing_secret == STRONG


PUBLISHED = next(iter(PUBLIC_JWT_SECRETS))


@pytest.mark.parametrize("environment", ["development", "test"])
def test_the_published_placeholder_is_refused_in_every_environment(environment: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET is a published placeholder"):
        settings(environment=environment, jwt_secret=PUBLISHED)


def test_an_unset_secret_is_generated_once_into_data_dir_for_its_owner_only(
    tmp_path: Path,
) -> None:
    first = settings(data_dir=tmp_path).signing_secret
    path = tmp_path / JWT_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and first not in PUBLIC_JWT_SECRETS
    assert settings(data_dir=tmp_path).signing_secret == first  # the next start reuses it
    assert settings(data_dir=tmp_path / "other").signing_secret != first
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [JWT_SECRET_FILE]  # no drafts
    assert settings(data_dir=tmp_path, jwt_secret=STRONG).signing_secret == STRONG


def test_workers_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / JWT_SECRET_FILE
    with ProcessPoolExecutor(max_workers=4) as pool:
        found = set(pool.map(load_or_create_secret, [path] * 16))
    assert found == {path.read_text().strip()}


def test_a_secret_file_others_can_read_or_too_short_is_refused(tmp_path: Path) -> None:
    path = tmp_path / JWT_SECRET_FILE
    load_or_create_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="readable by other users"):
        load_or_create_secret(path)
    path.write_text("short")
    os.chmod(path, 0o600)
    with pytest.raises(ValueError, match="delete it"):
        load_or_create_secret(path)


async def test_every_key_comes_from_the_generated_secret_never_a_published_one(
    tmp_path: Path,
) -> None:
    """Access and join tokens, CSRF tokens, sealed values and blob download links of a default
    install are made with the secret generated into DATA_DIR; the once-default is worthless."""
    built = settings(data_dir=tmp_path, embedded_ai_node=False)
    container = Container.build(built)
    try:
        secret = (tmp_path / JWT_SECRET_FILE).read_text().strip()
        user, session = uuid.uuid4(), uuid.uuid4()
        access, _ = container.tokens.issue_access(user, session, "user")
        join, _ = container.tokens.issue_join(
            user_id=user, meeting_id=uuid.uuid4(), participant_id=uuid.uuid4(), role="host",
            node_id="local",
        )  # fmt: skip
        csrf = container.csrf.issue()
        sealed = container.sealer.seal("reset-token")
        await container.blobs.put("media/a.txt", b"hello", "text/plain")
        assert isinstance(container.blobs, LocalBlobStore)

        async def download_token(store: LocalBlobStore) -> str:
            link = await store.download_url(
                "media/a.txt", filename="a.txt", content_type="text/plain", expires_in=60
            )
            return parse_qs(urlsplit(link).query)["token"][0]

        mine = await download_token(container.blobs)
        assert container.blobs.resolve_download(mine)[0].read_bytes() == b"hello"
        tokens = TokenService(secret, issuer=built.jwt_issuer, access_ttl=60, join_ttl=60)
        assert tokens.read_access(access).user_id == user
        assert tokens.read_join(join).user_id == user
        assert CsrfTokens(secret).valid(csrf, csrf)
        assert Sealer(secret).open(sealed) == "reset-token"

        public = TokenService(PUBLISHED, issuer=built.jwt_issuer, access_ttl=60, join_ttl=60)
        forged, _ = public.issue_access(user, session, "admin")
        with pytest.raises(Unauthenticated):
            container.tokens.read_access(forged)
        forged_csrf = CsrfTokens(PUBLISHED).issue()
        assert not container.csrf.valid(forged_csrf, forged_csrf)
        with pytest.raises(ValueError):
            container.sealer.open(Sealer(PUBLISHED).seal("x"))
        forger = LocalBlobStore(
            tmp_path / "blobs", derive_key(PUBLISHED, "blob-urls"), built.public_url
        )
        with pytest.raises(Forbidden):
            container.blobs.resolve_download(await download_token(forger))
    finally:
        await container.aclose()


def test_rate_specs() -> None:
    assert parse_rate("10/60") == (10, 60.0)
    for bad in ("10", "x/60", "0/60", "10/0"):
        with pytest.raises(ValueError, match="rate limit"):
            parse_rate(bad)
    with pytest.raises(ValidationError):
        settings(rate_limit_login="lots")
    with pytest.raises(ValidationError, match="at least 30 s of audio"):
        settings(rate_limit_asr_audio="20/60")  # a whole clip could never fit
    with pytest.raises(ValidationError):
        settings(ai_asr_in_flight_seconds=10)
