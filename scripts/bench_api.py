"""`make bench-api`: latency and throughput of the API on one gateway worker.

Starts private PostgreSQL and Redis (as the tests do), migrates, starts `meeting serve` pinned
to one core, seeds users and meetings over HTTP, then drives login, list meetings and join with
wrk (pinned to another core) at 50 and 200 concurrent connections. Writes the results into
docs/benchmarks.md with the machine and the date.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from meeting_shared.clock import utcnow
from meeting_shared.db.engine import Database
from meeting_shared.db.migrate import upgrade
from meeting_shared.db.models import Meeting, Participant, User
from meeting_shared.security import PasswordHasher, TokenService
from meeting_shared.settings import Settings
from tests.services import start_postgres, start_redis

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "scripts" / "bench" / "api.lua"
REPORT = ROOT / "docs" / "benchmarks.md"
PASSWORD = "benchmark password 1"
USERS = 200
HOSTED_PER_USER = 5
INVITED_PER_USER = 15
DURATION = int(os.environ.get("BENCH_SECONDS", "15"))
CONCURRENCY = (50, 200)
# Login last: its argon2 backlog must not skew the others.
KINDS = tuple(os.environ.get("BENCH_KINDS", "list,join,login").split(","))
TARGET_P99_MS = 50
TARGET_RPS = 1000


@dataclass(frozen=True)
class Result:
    kind: str
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms: float  # CPU time of the gateway process per request
    server_rss_mb: float  # resident memory of the gateway after the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def cpu_set() -> tuple[str, str]:
    """Server on the first CPU, load generator on the second (when there are two or more)."""
    cpus = sorted(os.sched_getaffinity(0))
    return str(cpus[0]), str(cpus[1] if len(cpus) > 1 else cpus[0])


def wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the gateway exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the gateway did not become healthy")


async def seed(database_url: str, jwt_secret: str, seed_file: Path) -> None:
    """Users who each host a few meetings and are invited to others' (a realistic list page).

    Written straight to the database (one shared argon2 hash, tokens minted with the server's
    secret): seeding is not what is measured, and 400 sign-ups at production argon2 cost take
    minutes on a small machine.
    """
    settings = Settings(_env_file=None, database_url=database_url, jwt_secret=jwt_secret)
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    password_hash = await hasher.hash(PASSWORD)
    hasher.close()
    tokens = TokenService(
        jwt_secret,
        issuer=settings.jwt_issuer,
        access_ttl=3600,
        join_ttl=settings.join_token_ttl_seconds,
    )
    now = utcnow()
    users = [uuid.uuid4() for _ in range(USERS)]
    names = [f"bench{index:04d}_{secrets.token_hex(3)}" for index in range(USERS)]
    hosted = {user: [uuid.uuid4() for _ in range(HOSTED_PER_USER)] for user in users}
    db = Database(database_url)
    async with db.session() as session:
        await session.execute(
            insert(User),
            [
                {"id": user, "username": name, "email": f"{name}@example.com",
                 "display_name": name, "password_hash": password_hash}
                for user, name in zip(users, names, strict=True)
            ],
        )  # fmt: skip
        await session.execute(
            insert(Meeting),
            [
                {"id": meeting, "title": f"Meeting {n}", "host_id": user, "start_time": now,
                 "end_time": now + timedelta(hours=1), "settings": {}}
                for user in users
                for n, meeting in enumerate(hosted[user])
            ],
        )  # fmt: skip
        memberships = [
            {"meeting_id": meeting, "user_id": user, "role": "host"}
            for user in users
            for meeting in hosted[user]
        ]
        for index, host in enumerate(users):
            for step in range(1, INVITED_PER_USER + 1):
                memberships.append(
                    {
                        "meeting_id": hosted[host][step % HOSTED_PER_USER],
                        "user_id": users[(index + step) % USERS],
                        "role": "participant",
                    }
                )
        await session.execute(insert(Participant), memberships)
        await session.commit()
    await db.aclose()
    lines = []
    for user, name in zip(users, names, strict=True):
        token, _ = tokens.issue_access(user, uuid.uuid4(), "user")
        lines.append(f"{token} {hosted[user][0]} {name}\n")
    await asyncio.to_thread(seed_file.write_text, "".join(lines))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WARM_UP_SECONDS = 3


def resident_mb(pid: int) -> float:
    found = re.search(r"^VmRSS:\s*(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


def run_wrk(
    url: str, kind: str, connections: int, seed_file: Path, cpu: str, server_pid: int
) -> Result:
    env = {
        **os.environ,
        "BENCH_SEED": str(seed_file),
        "BENCH_KIND": kind,
        "BENCH_PASSWORD": PASSWORD,
    }

    def wrk(seconds: int) -> list[str]:
        return ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
                "--timeout", "30s", "-s", str(LUA), url]  # fmt: skip

    # Warm up connection pools and caches first, unmeasured. Not for login: there is nothing to
    # warm, and the argon2 backlog it leaves would spill into the measured run.
    if kind != "login":
        subprocess.run(wrk(WARM_UP_SECONDS), env=env, capture_output=True, check=True)
    command = wrk(DURATION)
    cpu_before = process_cpu_seconds(server_pid)
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    cpu_used = process_cpu_seconds(server_pid) - cpu_before
    match = re.search(r"^RESULT (\{.*\})$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{output}")
    raw = json.loads(match.group(1))
    errors = sum(raw[key] for key in raw if key.startswith("errors_"))
    return Result(
        kind=kind,
        connections=connections,
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=errors,
        server_cpu_ms=cpu_used * 1000 / max(1, raw["requests"]),
        server_rss_mb=resident_mb(server_pid),
    )


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1).strip() if found else model
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        memory = f", {int(found.group(1)) / 1024 / 1024:.0f} GiB RAM" if found else ""
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{model}, {os.cpu_count()} cores{memory}, {system}"


def report(results: list[Result], server_cpu: str, client_cpu: str) -> str:
    lines = [
        "## API (control plane)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench-api` on {machine()}.",
        f"One gateway worker (`meeting serve`) alone on CPU {server_cpu}; PostgreSQL, Redis and "
        f"wrk on CPU {client_cpu} (loopback); {DURATION} s per run after a "
        f"{WARM_UP_SECONDS} s warm-up, "
        f"{USERS} users each hosting {HOSTED_PER_USER} meetings and invited to {INVITED_PER_USER} "
        "more (a list page holds 20 meetings). Login hashes with argon2id at the production "
        "cost (64 MiB, t=3, p=4).",
        "",
        "| endpoint | clients | requests/s | p50 ms | p99 ms | server CPU ms/request "
        "| server RSS MiB | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "login": "POST /auth/login",
        "list": "GET /meetings",
        "join": "POST /meetings/{id}/join",
    }
    for result in results:
        lines.append(
            f"| {names[result.kind]} | {result.connections} | {result.rps:,.0f} | "
            f"{result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.server_cpu_ms:.2f} | "
            f"{result.server_rss_mb:.0f} | {result.errors} |"
        )
    at_50 = next(r for r in results if r.kind == "list" and r.connections == 50)
    verdict = "met" if at_50.p99_ms <= TARGET_P99_MS and at_50.rps >= TARGET_RPS else "NOT met"
    lines += [
        "",
        f"Target (list meetings, one worker, 50 clients): p99 <= {TARGET_P99_MS} ms and "
        f">= {TARGET_RPS} requests/s: **{verdict}** ({at_50.p99_ms:.1f} ms, {at_50.rps:,.0f}/s).",
        "",
    ]
    return "\n".join(lines)


def write_report(section: str) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"## API \(control plane\)\n.*?(?=\n## |\Z)", re.DOTALL)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section
    )
    REPORT.write_text(text.rstrip() + "\n")


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: scripts/install-system-deps.sh wrk")
    server_cpu, client_cpu = cpu_set()
    # Everything this script starts (PostgreSQL, Redis, wrk) inherits the other core, so the
    # gateway's core is its own and its numbers are the gateway's alone.
    os.sched_setaffinity(0, {int(client_cpu)})
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="meeting-bench-")))
        database_url = stack.enter_context(start_postgres(work / "pg"))
        redis_url = stack.enter_context(start_redis(work / "redis"))
        upgrade(database_url)
        jwt_secret = secrets.token_urlsafe(48)
        seed_file = work / "seed.txt"
        asyncio.run(seed(database_url, jwt_secret, seed_file))
        port = 18800 + secrets.randbelow(1000)
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "PORT": str(port),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DATA_DIR": str(work / "var"),
            "JWT_SECRET": jwt_secret,
            **{
                f"RATE_LIMIT_{name}": "100000000/60"
                for name in ("LOGIN", "LOGIN_IP", "REGISTER", "REFRESH")
            },
        }
        log = work / "gateway.log"
        server = subprocess.Popen(
            ["taskset", "-c", server_cpu, sys.executable, "-m", "meeting_launcher.cli", "serve"],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        stack.callback(server.wait, 30)
        stack.callback(server.terminate)
        wait_healthy(url, server, log)
        if py_spy := os.environ.get("BENCH_PROFILE"):  # sample the gateway: path to py-spy
            profile = ROOT / "var" / "gateway.profile"
            subprocess.Popen(
                [py_spy, "record", "-r", "200", "-d", "12", "-f", "raw", "-o", str(profile),
                 "-p", str(server.pid)]
            )  # fmt: skip
        results = []
        for kind in KINDS:
            for connections in CONCURRENCY:
                result = run_wrk(url, kind, connections, seed_file, client_cpu, server.pid)
                print(
                    f"{kind:5} c={connections:3}: {result.rps:8.0f} req/s"
                    f"  p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms"
                    f"  server CPU {result.server_cpu_ms:5.2f} ms/request"
                    f"  RSS {result.server_rss_mb:4.0f} MiB  errors {result.errors}"
                )
                results.append(result)
    section = report(results, server_cpu, client_cpu)
    write_report(section)
    print(f"\nwritten to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
