"""The local AWS emulator (ministack, speaking LocalStack's edge API on one port) and the SAM CLI,
each in a virtual environment of its own under ``.tools`` (their pins, in ``localstack/``,
clash with the project's boto3).

    python -m scripts.emulator install   # both, when missing or when the pins changed
    python -m scripts.emulator run       # the emulator in the foreground (`make emulator`)

ministack runs Lambda functions in worker processes on its own interpreter, so its environment
is made with the functions' Python (3.12, scripts/build_lambda.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from scripts.build_lambda import lambda_python

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
EMULATOR_ENV = TOOLS / "ministack"
SAM_ENV = TOOLS / "sam"
SAM = SAM_ENV / "bin" / "sam"
DEFAULT_PORT = 4566


def _install(env: Path, python: str, requirements: Path) -> None:
    """A virtual environment with ``requirements``; remade when they change."""
    stamp = env / ".requirements.sha256"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    if env.exists():
        shutil.rmtree(env)
    subprocess.run([python, "-m", "venv", str(env)], check=True)
    pip = [str(env / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "-r", str(requirements)], check=True)
    stamp.write_text(wanted)


def install() -> None:
    _install(EMULATOR_ENV, lambda_python(), ROOT / "localstack" / "requirements.txt")
    _install(SAM_ENV, sys.executable, ROOT / "localstack" / "sam-requirements.txt")


def environment(port: int, state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "LOG_LEVEL": os.environ.get("EMULATOR_LOG_LEVEL", "WARNING"),
        "STATE_DIR": str(state),
        "TMPDIR": str(state),  # Lambda code is unpacked under it
    }


def start(port: int, state: Path, log: Path) -> subprocess.Popen[bytes]:
    """The emulator in the background, ready to serve."""
    state.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(EMULATOR_ENV / "bin" / "python"), "-m", "ministack"],
            env=environment(port, state),
            cwd=state,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
    except BaseException:
        process.kill()
        raise
    return process


def wait_ready(
    url: str, process: subprocess.Popen[bytes] | None = None, seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the emulator exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/_ministack/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the emulator at {url} did not answer within {seconds:.0f} s")


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    install()
    if command == "run":
        port = int(os.environ.get("EMULATOR_PORT", DEFAULT_PORT))
        state = TOOLS / "ministack-state"
        state.mkdir(parents=True, exist_ok=True)
        python = str(EMULATOR_ENV / "bin" / "python")
        os.execve(python, [python, "-m", "ministack"], environment(port, state))  # noqa: S606
    elif command != "install":
        raise SystemExit("usage: python -m scripts.emulator [install|run]")


if __name__ == "__main__":
    main()
