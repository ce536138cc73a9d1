"""Where the repository lives, for helpers that read or write files in it."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
