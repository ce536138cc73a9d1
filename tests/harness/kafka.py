"""A private single-node Apache Kafka (KRaft) on loopback, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.harness.errors import MissingBinaryError, ServiceError
from tests.harness.process import launch, record_startup, stop_process

_ROOT = Path(__file__).resolve().parents[2]
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

    # A loop of its own in a thread: the caller may be inside a running loop (an async test).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, probe()).result()


def new_cluster_id() -> str:
    """A KRaft cluster id (16 random bytes, URL-safe base64). One that starts with "-" would be
    read as an option by the storage tool (`format -t -x...`), 1 start in 64: Kafka's own
    `random-uuid` never makes one, nor does this."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


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
    cluster_id = new_cluster_id()

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
        formatted = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id,
             "-c", str(config)],
            check=False, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if formatted.returncode != 0:
            tail = (formatted.stdout + formatted.stderr).strip().splitlines()[-5:]
            raise ServiceError("Kafka's storage tool failed:\n" + "\n".join(tail))
        return config

    def argv_for(ports: Sequence[int]) -> list[str]:
        return [
            java, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Dlog4j.configuration=file:{KAFKA_LOG4J}", "-cp", classpath, "kafka.Kafka",
            str(configure(ports)),
        ]  # fmt: skip

    def ready(proc: subprocess.Popen[bytes], ports: Sequence[int]) -> bool:
        return _kafka_ready(ports[0])

    proc, (port, _) = launch(
        "kafka",
        argv_for,
        ready,
        port_count=2,
        log_path=workdir / "kafka.log",
        stop=lambda proc, ports: stop_process(proc, signal.SIGTERM),
        death_signal=signal.SIGTERM,
        timeout=timeout,
        cwd=workdir,
        ports=ports,
    )
    try:
        record_startup("kafka", started)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc, signal.SIGTERM)


# ------------------------------------------------------------------------------- S3: SeaweedFS
