"""The gateway on each database: PostgreSQL (the session's live server) and SQLite (embedded
state and blobs, as `make run` keeps them), for behaviour both must share."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from meeting_shared.db.migrate import upgrade
from meeting_shared.settings import Settings
from tests.harness.ports import free_port
from tests.support.api import Api
from tests.support.live_server import GENEROUS_LIMIT, LiveServer, start_live_server


@pytest.fixture(scope="session")
async def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """The whole gateway on SQLite, in-process state and events, and local blobs."""
    data_dir = tmp_path_factory.mktemp("sqlite-gateway")
    url = f"sqlite:///{data_dir / 'meeting.db'}"
    with ThreadPoolExecutor(max_workers=1) as pool:  # Alembic runs an event loop of its own
        pool.submit(upgrade, url).result()
    settings = Settings(
        _env_file=None,
        environment="test",
        port=free_port(),
        database_url=url,
        redis_url="",
        s3_endpoint="",
        kafka_bootstrap_servers="",
        jwt_secret=secrets.token_urlsafe(48),
        data_dir=data_dir,
        web_dir=data_dir / "no-web",
        argon2_time_cost=1,
        argon2_memory_kib=8192,
        argon2_parallelism=1,
        rate_limit_login=GENEROUS_LIMIT,
        rate_limit_login_ip=GENEROUS_LIMIT,
        rate_limit_register=GENEROUS_LIMIT,
        rate_limit_password_reset=GENEROUS_LIMIT,
        rate_limit_refresh=GENEROUS_LIMIT,
        rate_limit_chat=GENEROUS_LIMIT,
        ice_host_addresses=["127.0.0.1"],
        log_level="WARNING",
        embedded_ai_node=False,
    )
    server, stop = await start_live_server(settings)
    yield server
    await stop()


@pytest.fixture(params=["postgresql", "sqlite"])
def server_on_each_database(request: pytest.FixtureRequest) -> LiveServer:
    server: LiveServer = request.getfixturevalue(
        "live_server" if request.param == "postgresql" else "sqlite_server"
    )
    return server


@pytest.fixture
async def each_api(server_on_each_database: LiveServer) -> AsyncIterator[Api]:
    """``api`` on each database in turn."""
    helper = Api(server_on_each_database)
    yield helper
    await helper.aclose()
