"""Shared fixtures: the whole gateway on a real loopback port, backed by real PostgreSQL, Redis
and SeaweedFS (started by the ``tests.harness`` plugin); the helpers they use live in
``tests.support``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from meeting_shared.db.migrate import upgrade
from tests.harness.ports import free_port, free_ports
from tests.support.ai_nodes import AiNodeProcess, ai_node_process
from tests.support.api import Api
from tests.support.categories import CATEGORIES, module_categories
from tests.support.databases import private_database, separate_redis_db
from tests.support.live_server import (
    LiveServer,
    production_settings,
    start_ai_gateway,
    start_live_server,
)
from tests.support.paths import REPO_ROOT
from tests.support.tasks import cancel_all, describe, leaked_tasks, owned_by, track_owners

if TYPE_CHECKING:
    from tests.harness.seaweedfs import S3Config

pytest_plugins = ["tests.harness.plugin"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--web-dir",
        default=str(REPO_ROOT / "web" / "dist"),
        help="built web client the live server serves (default: web/dist, built by `make web`)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    undeclared = sorted(
        {
            item.path.relative_to(config.rootpath).as_posix()
            for item in items
            if isinstance(item, pytest.Function) and len(module_categories(item.module)) != 1
        }
    )
    if undeclared:
        raise pytest.UsageError(
            "each test module declares one category with `pytestmark = pytest.mark.<category>` "
            f"({', '.join(sorted(CATEGORIES))}); these do not: {', '.join(undeclared)}"
        )


@pytest.fixture(autouse=True)
def _no_leaked_tasks(request: pytest.FixtureRequest) -> None:
    """Every async test gets the leak check (sync tests have no loop running to leak into)."""
    if pytest_asyncio.is_async_test(request.node):
        request.getfixturevalue("_task_leak_check")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """The test body's tasks (and theirs) belong to the test; what fixtures start does not."""
    with owned_by(item.nodeid):
        return (yield)


@pytest.fixture
async def _task_leak_check(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a test whose body leaves tasks running once its fixtures are torn down (they get
    ``LEAK_GRACE_SECONDS`` to end, as a handler whose socket just closed does). The leaked
    tasks are cancelled: they belong to the failed test alone, never to a shared fixture."""
    track_owners(asyncio.get_running_loop())
    yield
    leaked = await leaked_tasks(request.node.nodeid)
    if leaked:
        names = "\n  ".join(sorted(describe(task) for task in leaked))  # before they unwind
        await cancel_all(leaked)
        pytest.fail(f"{request.node.nodeid} left tasks running:\n  {names}", pytrace=False)


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> str:
    # Alembic runs its own event loop, so it gets a thread of its own (this fixture may be
    # requested from inside the test loop).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(upgrade, postgres_url).result()
    return postgres_url


@pytest.fixture(scope="session")
async def live_server(
    migrated_postgres: str,
    redis_url: str,
    s3_config: S3Config,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> AsyncIterator[LiveServer]:
    port = free_port()
    settings = production_settings(
        postgres_url=migrated_postgres,
        redis_url=redis_url,
        s3=s3_config,
        data_dir=tmp_path_factory.mktemp("gateway"),
        port=port,
        web_dir=Path(pytestconfig.getoption("web_dir")),  # served at / (tests/browser use it)
    )
    server, stop = await start_live_server(settings)
    yield server
    await stop()


@pytest.fixture(scope="session")
def ai_node(
    migrated_postgres: str,
    redis_url: str,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AiNodeProcess]:
    """A real AI node (Triton on the CPU, every model) that announces itself in the session's
    Redis, so the session's live server finds it as a production gateway would, and transcribes
    the speech media nodes send on Kafka (topics ``<ai_node.topic_prefix>ai.asr.*``)."""
    http, grpc, metrics = free_ports(3)
    ports = (http, grpc, metrics)
    prefix = f"ai{uuid.uuid4().hex[:8]}."
    with ai_node_process(
        tmp_path_factory.mktemp("ai-node"),
        ports,
        DATABASE_URL=migrated_postgres,
        REDIS_URL=redis_url,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        KAFKA_TOPIC_PREFIX=prefix,
    ) as node:
        node.topic_prefix = prefix
        yield node


@pytest.fixture(scope="session")
async def ai_gateway(
    ai_node: AiNodeProcess,
    postgres_url: str,
    redis_url: str,
    kafka_bootstrap: str,
    s3_config: S3Config,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> AsyncIterator[LiveServer]:
    """A gateway and media node wired to ``ai_node`` the production way (live captions)."""
    with private_database(postgres_url, "aigateway") as database:
        server, stop = await start_ai_gateway(
            ai_node,
            database_url=database,
            redis_url=separate_redis_db(redis_url, 6),
            kafka_bootstrap=kafka_bootstrap,
            s3=s3_config,
            data_dir=tmp_path_factory.mktemp("aigateway"),
            web_dir=Path(pytestconfig.getoption("web_dir")),
        )
        try:
            yield server
        finally:
            await stop()


@pytest.fixture
async def api(live_server: LiveServer) -> AsyncIterator[Api]:
    helper = Api(live_server)
    yield helper
    await helper.aclose()
