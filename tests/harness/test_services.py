"""The service fixtures serve real traffic: SQL, Redis commands and signed S3 requests."""

from __future__ import annotations

import os
import re
import secrets

import httpx
import psycopg
import pytest
import redis
from botocore.exceptions import ClientError
from psycopg import sql

from tests.harness.kafka import new_cluster_id
from tests.harness.postgres import libpq_url
from tests.harness.seaweedfs import S3Config

pytestmark = pytest.mark.integration


def test_postgres_round_trip(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    # A unique name: TEST_DATABASE_URL may point at a database that other runs share.
    table = sql.Identifier(f"services_check_{secrets.token_hex(4)}")
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, name text NOT NULL)").format(table)
        )
        try:
            conn.execute(
                sql.SQL("INSERT INTO {} (name) VALUES (%s), (%s)").format(table), ["alice", "bob"]
            )
            rows = conn.execute(sql.SQL("SELECT id, name FROM {} ORDER BY id").format(table))
            result = rows.fetchall()
        finally:
            conn.execute(sql.SQL("DROP TABLE {}").format(table))
    assert result == [(1, "alice"), (2, "bob")]


@pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")), reason="auth of an external server is its own"
)
def test_postgres_requires_the_password(postgres_url: str) -> None:
    wrong = re.sub(r":[^:@/]+@", ":wrong-password@", libpq_url(postgres_url))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()


def test_redis_set_get(redis_url: str) -> None:
    key = f"services-check:{secrets.token_hex(4)}"
    with redis.Redis.from_url(redis_url) as client:
        assert client.set(key, b"value", ex=60)
        try:
            assert client.get(key) == b"value"
        finally:
            client.delete(key)
        assert client.get(key) is None


def test_s3_put_get_delete(s3_config: S3Config) -> None:
    client = s3_config.client()
    key = f"services-check/{secrets.token_hex(4)}.bin"
    body = secrets.token_bytes(1024)
    client.put_object(Bucket=s3_config.bucket, Key=key, Body=body, ContentType="image/png")
    obj = client.get_object(Bucket=s3_config.bucket, Key=key)
    assert obj["Body"].read() == body
    assert obj["ContentType"] == "image/png"
    client.delete_object(Bucket=s3_config.bucket, Key=key)
    with pytest.raises(ClientError) as excinfo:
        client.get_object(Bucket=s3_config.bucket, Key=key)
    assert excinfo.value.response["Error"]["Code"] == "NoSuchKey"


def test_s3_presigned_get_is_signed(s3_config: S3Config) -> None:
    client = s3_config.client()
    key = f"services-check/{secrets.token_hex(4)}.txt"
    client.put_object(Bucket=s3_config.bucket, Key=key, Body=b"presigned")
    try:
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": s3_config.bucket, "Key": key}, ExpiresIn=60
        )
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        assert response.content == b"presigned"

        # One changed signature digit, or the same signature on another key: refused.
        match = re.search(r"X-Amz-Signature=([0-9a-f]+)", url)
        assert match is not None
        signature = match.group(1)
        forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
        assert httpx.get(url.replace(signature, forged), timeout=10).status_code == 403
        other_key = url.replace(f"/{key}?", f"/{key}.other?")
        assert httpx.get(other_key, timeout=10).status_code == 403
        # And no signature at all: the bucket is private.
        assert httpx.get(url.split("?", 1)[0], timeout=10).status_code == 403
    finally:
        client.delete_object(Bucket=s3_config.bucket, Key=key)


def test_s3_bucket_allows_browser_uploads(s3_config: S3Config) -> None:
    """CORS preflight for a browser POST (presigned POST uploads) is answered."""
    response = httpx.options(
        f"{s3_config.endpoint_url}/{s3_config.bucket}/uploads/x.png",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in {"*", "http://localhost:5173"}
    assert "POST" in response.headers["access-control-allow-methods"]


def test_kafka_cluster_ids_never_look_like_an_option() -> None:
    # One in 64 random ids starts with "-": the storage tool then failed the whole session.
    ids = [new_cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(cluster_id) == 22 for cluster_id in ids)
