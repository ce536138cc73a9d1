"""The gateway on each database: PostgreSQL (the session's live server) and SQLite (embedded
state and blobs, as `make run` keeps them), for behaviour both must share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness.ports import free_port
from tests.support.api import Api
from tests.support.embedded import embedded_settings, migrate_sqlite
from tests.support.live_server import LiveServer, start_live_server


@pytest.fixture(scope="session")
async def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """The whole gateway on SQLite, in-process state and events, and local blobs."""
    data_dir = tmp_path_factory.mktemp("sqlite-gateway")
    migrate_sqlite(data_dir / "meeting.db")
    settings = embedded_settings(data_dir, port=free_port())
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
