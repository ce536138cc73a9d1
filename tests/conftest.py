"""Shared fixtures: the whole gateway on a real loopback port, backed by real PostgreSQL, Redis
and SeaweedFS (started by ``tests.services``), plus helpers to act as users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy.engine import make_url

from meeting_launcher.gateway import create_gateway
from meeting_sfu.protocol import MAX_FRAME_BYTES
from meeting_shared.container import Container
from meeting_shared.db.migrate import upgrade
from meeting_shared.settings import Settings
from tests.ai_nodes import AiNodeProcess, ai_node_process
from tests.services import libpq_url

if TYPE_CHECKING:
    from tests.services import S3Config

pytest_plugins = ["tests.services"]

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
GENEROUS_LIMIT = "100000/60"
# A live server that takes longer to stop is stuck: the test fails, naming what waits.
STOP_TIMEOUT_SECONDS = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--web-dir",
        default=str(REPO_ROOT / "web" / "dist"),
        help="built web client the live server serves (default: web/dist, built by `make web`)",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> tuple[int, ...]:
    """``count`` different free ports (asked one by one, the kernel may hand out one twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return tuple(int(sock.getsockname()[1]) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def production_settings(
    *,
    postgres_url: str,
    redis_url: str,
    s3: S3Config,
    data_dir: Path,
    port: int,
    **overrides: Any,
) -> Settings:
    """Settings of a production-shaped deployment (PostgreSQL, Redis, S3) for tests."""
    values: dict[str, Any] = {
        "environment": "test",
        "port": port,
        "database_url": postgres_url,
        "redis_url": redis_url,
        "s3_endpoint": s3.endpoint_url,
        "s3_bucket": s3.bucket,
        "s3_region": s3.region,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
        "jwt_secret": secrets.token_urlsafe(48),
        "metrics_token": secrets.token_urlsafe(24),  # tests scrape /metrics with it
        "data_dir": data_dir,
        "web_dir": data_dir / "no-web",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        "rate_limit_login": GENEROUS_LIMIT,
        "rate_limit_login_ip": GENEROUS_LIMIT,
        "rate_limit_register": GENEROUS_LIMIT,
        "rate_limit_password_reset": GENEROUS_LIMIT,
        "rate_limit_refresh": GENEROUS_LIMIT,
        "ice_host_addresses": ["127.0.0.1"],  # media stays on loopback in tests
        "rate_limit_chat": GENEROUS_LIMIT,
        "log_level": "WARNING",
        "embedded_ai_node": False,  # tests that need AI start a node (tests/ai/conftest.py)
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class LiveServer:
    url: str
    settings: Settings
    container: Container
    app: FastAPI

    @property
    def mail_file(self) -> Path:
        return self.settings.data_dir / "mail" / "outbox.jsonl"


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


def _where(task: asyncio.Task[Any]) -> str:
    """A pending task's name and the line it waits at."""
    frames = task.get_stack(limit=1)
    line = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "?"
    return f"{task.get_name()} at {line}"


async def start_live_server(settings: Settings) -> tuple[LiveServer, Callable[[], Awaitable[None]]]:
    """Serve the gateway with uvicorn in this event loop; returns the server and its stopper."""
    container = Container.build(settings)
    app = create_gateway(settings, container)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            lifespan="on",
            ws_max_size=MAX_FRAME_BYTES,
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("the gateway did not start")

    async def stop() -> None:
        server.should_exit = True
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await asyncio.shield(task)
        except TimeoutError:
            pending = sorted(_where(t) for t in asyncio.all_tasks() if not t.done())
            task.cancel()
            raise AssertionError(f"the gateway did not stop; waiting: {pending}") from None

    return LiveServer(
        url=f"http://127.0.0.1:{settings.port}", settings=settings, container=container, app=app
    ), stop


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


async def start_ai_gateway(
    ai_node: AiNodeProcess,
    *,
    database_url: str,
    redis_url: str,
    kafka_bootstrap: str,
    s3: S3Config,
    data_dir: Path,
    **overrides: Any,
) -> tuple[LiveServer, Callable[[], Awaitable[None]]]:
    """A gateway (and media node) wired to ``ai_node`` as production is: speech and captions
    through Kafka, model calls to the node's Triton. ``redis_url`` must be a database of its own
    (``separate_redis_db``) and ``database_url`` a private one (its relay publishes to Kafka)."""
    settings = production_settings(
        postgres_url=database_url,
        redis_url=redis_url,
        s3=s3,
        data_dir=data_dir,
        port=free_port(),
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=ai_node.topic_prefix,
        ai_node_urls=[ai_node.url],
        **overrides,
    )
    return await start_live_server(settings)


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


@dataclass
class UserSession:
    """A registered, signed-in user and an HTTP client that sends their Bearer token."""

    id: uuid.UUID
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    client: httpx.AsyncClient
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Api:
    """Acts on a live server: anonymous requests and user sessions."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.client = httpx.AsyncClient(base_url=server.url, timeout=30)
        self._clients: list[httpx.AsyncClient] = [self.client]

    def new_client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.server.url, timeout=30)
        self._clients.append(client)
        return client

    async def register(self, prefix: str = "user", *, password: str = PASSWORD) -> dict[str, Any]:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        response = await self.client.post(
            "/api/v1/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": password},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def user(self, prefix: str = "user") -> UserSession:
        """A new user, signed in, with a client that sends their Bearer token."""
        created = await self.register(prefix)
        return await self.login(created["username"], created["email"])

    async def login(self, username: str, email: str, password: str = PASSWORD) -> UserSession:
        response = await self.client.post(
            "/api/v1/auth/login", json={"login": username, "password": password}
        )
        assert response.status_code == 200, response.text
        self.client.cookies.clear()  # the shared client stays anonymous
        tokens = response.json()
        client = self.new_client()
        client.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return UserSession(
            id=uuid.UUID(tokens["user"]["id"]),
            username=username,
            email=email,
            password=password,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            client=client,
        )

    async def admin(self) -> UserSession:
        """A new administrator (bootstrapped the way ``meeting admin create`` does)."""
        from meeting_shared.services.accounts import Registration
        from meeting_shared.services.user_admin import create_admin

        name = f"admin_{uuid.uuid4().hex[:10]}"
        container = self.server.container
        async with container.db.session() as session:
            await create_admin(
                container.unit_of_work(session),
                container.hasher,
                Registration(username=name, email=f"{name}@example.com", password=PASSWORD),
            )
        return await self.login(name, f"{name}@example.com")

    async def meeting(self, host: UserSession, **fields: Any) -> dict[str, Any]:
        response = await host.client.post(
            "/api/v1/meetings", json={"title": "Weekly sync", **fields}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def mails_to(self, address: str) -> list[dict[str, Any]]:
        path = self.server.mail_file
        if not path.exists():
            return []
        mails = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [mail for mail in mails if mail["to"] == address]

    async def wait_for_mail(self, address: str, seconds: float = 5.0) -> dict[str, Any]:
        for _ in range(int(seconds / 0.05)):
            mails = self.mails_to(address)
            if mails:
                return mails[-1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no mail reached {address} within {seconds} s")

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


@pytest.fixture
async def api(live_server: LiveServer) -> AsyncIterator[Api]:
    helper = Api(live_server)
    yield helper
    await helper.aclose()
