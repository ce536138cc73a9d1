"""Process plumbing shared by the test servers: free ports, spawn, readiness, stop, runtime dirs.

Servers run in their own process session (a terminal Ctrl-C reaches pytest only, which then
stops them in order) and, on Linux, get a parent-death signal, so they also go away if the
process that started them is killed outright. That signal fires when the *thread* that started
a server exits: start servers from a thread that outlives them (the main thread, in pytest).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.harness.errors import PortInUseError, ServiceError
from tests.harness.ports import free_ports

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
"""Seconds a server gets to become ready; a loaded 2-core CI box can be slow."""

INSTALL_HINT = "run scripts/install-system-deps.sh"

_PORT_ATTEMPTS = 3
_PORT_IN_USE = re.compile(r"address already in use|is not available on", re.IGNORECASE)

STARTUP_SECONDS: dict[str, float] = {}
"""Start-up time of each server started in this process, shown in pytest's summary."""


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a server log, for the error that says why it did not start."""
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
STRAY_SOCKETS = "stray-sockets"
"""File in a runtime dir listing unix sockets that its server creates outside of it."""


def runtime_dir(kind: str) -> Path:
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
                remove_sockets((stale / STRAY_SOCKETS).read_text().split())
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass
    return Path(tempfile.mkdtemp(prefix=f"meeting-{kind}-{os.getpid()}-", dir=root))


def remove_sockets(paths: Sequence[str | Path]) -> None:
    """Unlink the unix sockets among `paths` (a server killed hard leaves them behind)."""
    for path in map(Path, paths):
        if path.is_socket():
            path.unlink(missing_ok=True)


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
class RunAs:
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
    run_as: RunAs | None = None,
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


def stop_process(proc: subprocess.Popen[bytes], sig: signal.Signals, grace: float = 30.0) -> None:
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
            tail = log_tail(log_path)
            error = PortInUseError if _PORT_IN_USE.search(_last_run(log_path)) else ServiceError
            raise error(f"{name} exited with code {code} during start-up; {log_path}:\n{tail}")
        try:
            if ready(proc, ports):
                return
        except Exception as exc:  # not listening yet, still starting up, ...
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{name} not ready after {timeout:.0f} s (last check: {last_error}); "
                f"{log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.1)


def launch(
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
    run_as: RunAs | None = None,
    ports: Sequence[int] | None = None,
) -> tuple[subprocess.Popen[bytes], list[int]]:
    """Start a server on fresh free ports (or on ``ports``) and wait until it is ready.

    Retries with other ports when the server lost a port race (parallel test runs).
    """
    fixed = list(ports) if ports is not None else None
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        ports = fixed or free_ports(port_count, twin_offset=twin_offset)
        proc = _spawn(
            argv_for(ports), log_path, death_signal=death_signal, env=env, cwd=cwd, run_as=run_as
        )
        try:
            _wait_ready(name, proc, log_path, timeout, ready, ports)
        except PortInUseError:
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


def record_startup(name: str, started: float) -> None:
    STARTUP_SECONDS[name] = time.monotonic() - started
    log.info("%s ready in %.2f s", name, STARTUP_SECONDS[name])


# --------------------------------------------------------------------------------- PostgreSQL
