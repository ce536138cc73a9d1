"""The layering the tree promises, checked: import-linter's contracts (pyproject.toml,
``[tool.importlinter]``) and the size of every source module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("shared", "functions", "sfu_node", "gpu_node", "launcher")
MAX_LINES = 600


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def source_modules() -> list[Path]:
    return sorted(
        path
        for folder in SOURCE_DIRS
        if (REPO_ROOT / folder).is_dir()
        for path in (REPO_ROOT / folder).rglob("*.py")
    )


def test_no_source_module_is_over_600_lines() -> None:
    modules = source_modules()
    assert len(modules) > 100  # the walk found the packages
    too_long = {
        path.relative_to(REPO_ROOT).as_posix(): lines
        for path in modules
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}
