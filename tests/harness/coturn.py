"""A private coturn TURN server on loopback that takes TURN REST API credentials."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.harness.errors import MissingBinaryError
from tests.harness.process import INSTALL_HINT, READY_TIMEOUT, launch, record_startup, stop_process


@dataclass(frozen=True)
class TurnConfig:
    """Where the TURN server listens and the secret its REST API credentials are made with."""

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

    proc, (port,) = launch(
        "turnserver",
        argv_for,
        ready,
        port_count=1,
        log_path=workdir / "turnserver.log",
        stop=lambda proc, ports: stop_process(proc, signal.SIGTERM),
        death_signal=signal.SIGTERM,
        timeout=timeout,
        cwd=workdir,
    )
    try:
        record_startup("coturn", started)
        yield TurnConfig(url=f"turn:127.0.0.1:{port}?transport=udp", secret=secret)
    finally:
        stop_process(proc, signal.SIGTERM)
