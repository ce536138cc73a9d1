"""Real AI nodes for tests: ``meeting gpu-node`` processes serving every model on the CPU.

Model files are prepared once into ``var/models`` (shared by runs: reassembling Whisper and
converting the face model takes a few seconds) and each node gets its own ports and data folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from meeting_shared.ai.catalog import served_models

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_CACHE = REPO_ROOT / "var" / "models"
START_TIMEOUT_SECONDS = 180.0


@dataclass
class AiNodeProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    topic_prefix: str = ""  # Kafka topics it consumes, when it has Kafka

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """An outage: the node and its Triton server die at once, without goodbyes."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def ready(url: str) -> bool:
    """Whether the Triton server at ``url`` serves every model of the catalog."""
    try:
        with httpx.Client(timeout=2.0) as client:
            if client.get(f"{url}/v2/health/ready").status_code != 200:
                return False
            return all(
                client.get(f"{url}/v2/models/{spec.name}/ready").status_code == 200
                for spec in served_models()
            )
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def ai_node_process(
    data_dir: Path, ports: tuple[int, int, int], **env: str
) -> Iterator[AiNodeProcess]:
    http, grpc, metrics = ports
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "gpu-node.log"
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATA_DIR": str(data_dir),
        "AI_MODEL_DIR": str(MODEL_CACHE),
        "AI_NODE_HOST": "127.0.0.1",
        "AI_HTTP_PORT": str(http),
        "AI_GRPC_PORT": str(grpc),
        "AI_METRICS_PORT": str(metrics),
        "AI_NODE_HEARTBEAT_SECONDS": "1",
        "AI_NODE_STALE_SECONDS": "3",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    url = f"http://127.0.0.1:{http}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "meeting_launcher.cli", "gpu-node"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # kill() takes Triton's processes with it
        )
    node = AiNodeProcess(url=url, process=process, log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the AI node did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield node
    finally:
        node.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # Triton's stubs, should any linger
