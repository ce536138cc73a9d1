"""A private PostgreSQL cluster on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from tests.harness.errors import MissingBinaryError, ServiceError
from tests.harness.process import (
    INSTALL_HINT,
    READY_TIMEOUT,
    RunAs,
    launch,
    log_tail,
    record_startup,
    runtime_dir,
    stop_process,
)

PG_USER = "meeting"
PG_DATABASE = "meeting_test"


def libpq_url(sqlalchemy_url: str) -> str:
    """Turn ``postgresql+psycopg://...`` into the plain URL that psycopg.connect() accepts."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


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


def _postgres_run_as() -> RunAs | None:
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
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


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
    cluster = runtime_dir("pg")
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
        proc, (port,) = launch(
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
            record_startup("postgres", started)
            auth = f"{PG_USER}:{quote(password, safe='')}"
            yield f"postgresql+psycopg://{auth}@127.0.0.1:{port}/{PG_DATABASE}"
        finally:
            _stop_postgres(proc, [port])
    finally:
        shutil.rmtree(cluster, ignore_errors=True)


def _stop_postgres(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> None:
    # SIGINT is PostgreSQL's "fast" shutdown: it ends open sessions instead of waiting for them.
    stop_process(proc, signal.SIGINT)


def _initdb(
    bindir: Path,
    cluster: Path,
    password: str,
    log_path: Path,
    run_as: RunAs | None,
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
            f"initdb failed with code {result.returncode}; {log_path}:\n{log_tail(log_path)}"
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
