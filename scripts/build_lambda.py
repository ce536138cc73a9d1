"""`make lambda-bundle`: the code packages the Lambda functions of infra/template.yaml run.

Two directories under ``build/lambda/`` (SAM zips each when it deploys, ``CodeUri``):

- ``core``: the ``lambda`` dependency group of pyproject.toml, for the user, meeting, media and
  migrate functions;
- ``ai``: that plus ``lambda-ai`` (the Triton client and numpy), for the ai function.

Both hold the ``meeting_functions`` and ``meeting_shared`` packages, whole, and their dependencies
at the versions in uv.lock, as wheels for Lambda's Linux (x86_64, CPython 3.12). The media and AI
stacks (aiortc, PyAV, Whisper, onnxruntime, models) and the other planes' packages (the media and
AI nodes, the launchers) stay out: the check at the end imports every
handler with nothing but the package and the standard library on the path, proves that none of
them came along, and reads every wheel's tags to be sure it runs on Lambda's glibc.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "lambda"
UV = ROOT / ".tools" / "bin" / "uv"
SOURCES = (ROOT / "functions" / "meeting_functions", ROOT / "shared" / "meeting_shared")
MEDIA_AND_AI = ("aiortc", "av", "faster_whisper", "ctranslate2", "onnxruntime", "pytriton", "cv2")
# The other planes and the launchers above them: ``functions/`` imports only ``meeting_shared``.
OTHER_PLANES = ("meeting_sfu", "meeting_gpu", "meeting_launcher")
# Test suites some wheels ship: megabytes no function runs.
TEST_FOLDERS = ("numpy/*/tests", "numpy/tests", "numpy/*/*/tests", "PIL/tests")
PYTHON = "3.12"  # the functions' runtime, python3.12: Amazon Linux 2023, glibc 2.34
PLATFORM = "x86_64-manylinux_2_28"
LAMBDA_GLIBC = (2, 34)
LIMIT_MIB = 250  # Lambda's limit for a function's code, unzipped


@dataclass(frozen=True)
class Package:
    name: str
    groups: tuple[str, ...]
    handlers: tuple[str, ...]
    never: tuple[str, ...]  # top-level modules it must not hold


PACKAGES = (
    Package(
        name="core",
        groups=("lambda",),
        handlers=(
            "meeting_functions.user.app",
            "meeting_functions.meeting.app",
            "meeting_functions.media.app",
            "meeting_functions.migrate_handler",
        ),
        never=(*MEDIA_AND_AI, *OTHER_PLANES, "numpy", "tritonclient"),
    ),
    Package(
        name="ai",
        groups=("lambda", "lambda-ai"),
        handlers=("meeting_functions.ai.app",),
        never=(*MEDIA_AND_AI, *OTHER_PLANES),
    ),
)


def run(*command: str | Path) -> None:
    subprocess.run([str(part) for part in command], check=True, cwd=ROOT)


def build(package: Package) -> Path:
    out = BUILD / package.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    groups = [option for group in package.groups for option in ("--only-group", group)]
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        run(UV, "export", "--frozen", *groups, "--no-emit-project", "--quiet",
            "--no-hashes", "--format", "requirements-txt", "-o", requirements)  # fmt: skip
        # (copies, not links into uv's cache: the libraries get stripped below)
        run(UV, "pip", "install", "--quiet", "--target", out, "--python-platform", PLATFORM,
            "--python-version", PYTHON, "--only-binary", ":all:", "--no-deps",
            "--link-mode", "copy", "--requirement", requirements)  # fmt: skip
    for source in SOURCES:
        shutil.copytree(source, out / source.name, ignore=shutil.ignore_patterns("__pycache__"))
    for pattern in (*TEST_FOLDERS, "**/__pycache__"):
        for folder in list(out.glob(pattern)):
            shutil.rmtree(folder)
    # Some wheels ship their extensions with debug symbols (ml_dtypes: 24 MiB, 1.5 stripped).
    libraries = [str(path) for path in out.rglob("*.so*") if path.is_file()]
    run("strip", "--strip-unneeded", *libraries)
    check(package, out)
    return out


def check(package: Package, out: Path) -> None:
    present = [name for name in package.never if (out / name).exists()]
    if present:
        raise SystemExit(f"the {package.name} package must not hold {present}")
    for wheel in out.glob("*.dist-info/WHEEL"):
        needs = glibc_needed(wheel.read_text())
        if needs > LAMBDA_GLIBC:
            raise SystemExit(f"{wheel.parent.name} needs glibc {needs}: Lambda has {LAMBDA_GLIBC}")
    if (mib := size(out) / 2**20) > LIMIT_MIB:
        raise SystemExit(f"the {package.name} package is {mib:.0f} MiB: Lambda takes {LIMIT_MIB}")
    script = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(out)!r}]\n"
        f"for name in {package.handlers!r}:\n"
        "    assert callable(importlib.import_module(name).handler), name\n"
        f"leaked = sorted(m for m in sys.modules if m.split('.')[0] in {package.never!r})\n"
        "assert not leaked, leaked\n"
    )
    # -S: no site-packages (only the standard library and the package); -I: no user paths.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(Path.home())}
    subprocess.run([lambda_python(), "-I", "-S", "-c", script], check=True, env=env)


def lambda_python() -> str:
    """An interpreter of the functions' Python version: on the PATH, or pyenv's (its shims only
    work where that version is selected, so they are passed over)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [
        *(p for p in os.get_exec_path() if "/shims" not in p),
        *(str(version / "bin") for version in sorted(pyenv.glob(f"{PYTHON}.*"))),
    ]
    for folder in candidates:
        found = shutil.which(f"python{PYTHON}", path=folder)
        if found is not None:
            return found
    raise SystemExit(f"Python {PYTHON} is needed to check the Lambda packages (and to run them)")


def glibc_needed(wheel_metadata: str) -> tuple[int, int]:
    """The oldest glibc one of the wheel's tags runs on ((0, 0): pure Python)."""
    versions = []
    for line in wheel_metadata.splitlines():
        if not line.startswith("Tag:"):
            continue
        platform = line.rsplit("-", 1)[-1]
        if platform.startswith("manylinux2014"):
            versions.append((2, 17))
        elif match := re.match(r"manylinux_(\d+)_(\d+)_", platform):
            versions.append((int(match[1]), int(match[2])))
        elif platform == "any":
            versions.append((0, 0))
    return min(versions, default=(0, 0))


def size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def main() -> None:
    for package in PACKAGES:
        out = build(package)
        print(f"{out.relative_to(ROOT)}: {size(out) / 2**20:.0f} MiB unzipped")


if __name__ == "__main__":
    main()
