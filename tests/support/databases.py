"""Databases of their own on the test servers, for tests that must not share the session's."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from meeting_shared.db.migrate import upgrade
from tests.harness.postgres import libpq_url


def create_database(server_url: str, name: str) -> str:
    """A new empty database on the server of ``server_url``; returns its URL."""
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def private_database(server_url: str, prefix: str) -> Iterator[str]:
    """A migrated database of its own on the test server, dropped afterwards: for tests that
    read the outbox, which the session server's relay would otherwise drain first."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:  # Alembic runs an event loop of its own
            pool.submit(upgrade, url).result()
        yield url
    finally:
        drop_database(server_url, name)


def separate_redis_db(redis_url: str, db: int) -> str:
    """Another database of the same Redis: a second deployment in a test (its own media nodes
    and rooms) must not see the session server's heartbeats, nor they its."""
    return f"{redis_url.rsplit('/', 1)[0]}/{db}"
