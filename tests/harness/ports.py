"""Free loopback ports for test servers, live gateways and scripts."""

from __future__ import annotations

import random
import socket

from tests.harness.errors import ServiceError


def free_port() -> int:
    """One free loopback port (free when asked: bind it soon)."""
    return free_ports(1)[0]


def _bind(port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    return sock


def free_ports(count: int, *, twin_offset: int = 0) -> list[int]:
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
