"""The harness as a pytest plugin: session fixtures for each server and their start-up times.

Registered by ``pytest_plugins = ["tests.harness.plugin"]`` in tests/conftest.py, it provides the
session-scoped fixtures ``postgres_url``, ``redis_url``, ``s3_config``, ``kafka_bootstrap`` and
``turn_server``. Each one starts a private server on free 127.0.0.1 ports under a temporary
directory and stops it when the session ends, unless an override variable points at an existing
server:

- ``TEST_DATABASE_URL``: SQLAlchemy URL of an existing database;
- ``TEST_REDIS_URL``: URL of an existing Redis;
- ``TEST_KAFKA_BOOTSTRAP``: ``host:port`` of an existing Kafka broker;
- ``TEST_S3_ENDPOINT``, ``TEST_S3_BUCKET``, ``TEST_S3_ACCESS_KEY``, ``TEST_S3_SECRET_KEY`` (and
  optionally ``TEST_S3_REGION``): an existing S3-compatible server.

PYTEST_DONT_REWRITE: there are no asserts to rewrite here, and a module that imports this one
before pytest registers it as a plugin would otherwise get an "already imported" warning.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TypeVar

import pytest

from tests.harness.coturn import TurnConfig, start_coturn
from tests.harness.errors import ServiceError
from tests.harness.kafka import start_kafka
from tests.harness.postgres import start_postgres
from tests.harness.process import STARTUP_SECONDS
from tests.harness.redis import start_redis
from tests.harness.seaweedfs import S3_REGION, S3Config, prepare_bucket, start_seaweedfs

_T = TypeVar("_T")


def _start_or_fail(
    stack: contextlib.ExitStack, service: contextlib.AbstractContextManager[_T]
) -> _T:
    """Enter `service`; a start-up failure fails the tests (never skips them) with its reason."""
    try:
        return stack.enter_context(service)
    except ServiceError as exc:
        reason = str(exc)
    pytest.fail(reason, pytrace=False)  # outside `except`: no chained traceback noise


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL (postgresql+psycopg://) of a fresh empty database; TEST_DATABASE_URL wins."""
    override = os.environ.get("TEST_DATABASE_URL")
    if override:
        yield override
        return
    with contextlib.ExitStack() as stack:
        yield _start_or_fail(stack, start_postgres(tmp_path_factory.mktemp("postgres")))


@pytest.fixture(scope="session")
def turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TurnConfig]:
    """A private coturn on loopback that accepts TURN REST API credentials."""
    with contextlib.ExitStack() as stack:
        yield _start_or_fail(stack, start_coturn(tmp_path_factory.mktemp("coturn")))


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a private single-node Kafka (KRaft); TEST_KAFKA_BOOTSTRAP wins."""
    override = os.environ.get("TEST_KAFKA_BOOTSTRAP")
    if override:
        yield override
        return
    with contextlib.ExitStack() as stack:
        yield _start_or_fail(stack, start_kafka(tmp_path_factory.mktemp("kafka")))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a private Redis; TEST_REDIS_URL wins."""
    override = os.environ.get("TEST_REDIS_URL")
    if override:
        yield override
        return
    with contextlib.ExitStack() as stack:
        yield _start_or_fail(stack, start_redis(tmp_path_factory.mktemp("redis")))


_S3_OVERRIDES = ("TEST_S3_ENDPOINT", "TEST_S3_BUCKET", "TEST_S3_ACCESS_KEY", "TEST_S3_SECRET_KEY")


@pytest.fixture(scope="session")
def s3_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Config]:
    """A ready bucket on a private SeaweedFS; the TEST_S3_* variables point elsewhere instead."""
    given = {name: os.environ.get(name, "") for name in _S3_OVERRIDES}
    if any(given.values()):
        if not all(given.values()):
            missing = ", ".join(name for name, value in given.items() if not value)
            pytest.fail(f"partial S3 override: also set {missing}", pytrace=False)
        config = S3Config(
            endpoint_url=given["TEST_S3_ENDPOINT"],
            bucket=given["TEST_S3_BUCKET"],
            access_key=given["TEST_S3_ACCESS_KEY"],
            secret_key=given["TEST_S3_SECRET_KEY"],
            region=os.environ.get("TEST_S3_REGION") or S3_REGION,
        )
        prepare_bucket(config)
        yield config
        return
    with contextlib.ExitStack() as stack:
        yield _start_or_fail(stack, start_seaweedfs(tmp_path_factory.mktemp("s3")))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line with each server's start-up time, to notice when the suite's set-up slows down."""
    if STARTUP_SECONDS:
        times = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in STARTUP_SECONDS.items())
        terminalreporter.write_line(f"test services started: {times}")
