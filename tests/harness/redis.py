"""A private memory-only Redis on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.harness.errors import MissingBinaryError
from tests.harness.process import INSTALL_HINT, READY_TIMEOUT, launch, record_startup, stop_process


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

    proc, (port,) = launch(
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
        record_startup("redis", started)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop_redis(proc, [port])


def _stop_redis(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> None:
    stop_process(proc, signal.SIGTERM)


# ------------------------------------------------------------------------------------ TURN: coturn
