"""The docs name real things: every repository path and every ``meeting_*`` module or attribute
that README.md, docs/*.md and the package READMEs mention in backticks exists, so a move that
forgets its docs fails here instead of misleading the next reader."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.unit

DOCS = sorted(
    [
        REPO_ROOT / "README.md",
        *(REPO_ROOT / "docs").glob("*.md"),
        *(
            REPO_ROOT / name / "README.md"
            for name in ("shared", "functions", "sfu_node", "gpu_node")
        ),
        REPO_ROOT / "launcher" / "meeting_launcher" / "README.md",
    ]
)
TOP_LEVEL = (
    "functions",
    "shared",
    "sfu_node",
    "gpu_node",
    "launcher",
    "tests",
    "scripts",
    "docs",
    "infra",
    "localstack",
    "web",
)
CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(rf"^(?:\.\./)?((?:{'|'.join(TOP_LEVEL)})/[\w./-]*)$")
MODULE = re.compile(r"^(meeting_(?:shared|functions|sfu|gpu|launcher)(?:\.\w+)*)")


def mentions(doc: Path) -> list[str]:
    return [match.group(1).strip() for match in CODE.finditer(doc.read_text())]


def missing_path(text: str) -> str | None:
    found = PATH.match(text)
    if found is None:
        return None
    path = found.group(1).rstrip(".")
    return None if (REPO_ROOT / path).exists() else path


def missing_name(text: str) -> str | None:
    """A dotted name is a module, then attributes of it (``Container.open_services``)."""
    found = MODULE.match(text)
    if found is None:
        return None
    parts = found.group(1).split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return found.group(1)
            target = getattr(target, attribute)
        return None
    return found.group(1)


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.relative_to(REPO_ROOT).as_posix())
def test_every_path_and_module_a_doc_names_exists(doc: Path) -> None:
    gone = sorted(
        {
            name
            for text in mentions(doc)
            for name in (missing_path(text), missing_name(text))
            if name is not None
        }
    )
    assert gone == [], f"{doc.relative_to(REPO_ROOT)} names what does not exist"


def test_the_check_catches_a_stale_name() -> None:
    assert missing_path("shared/meeting_shared/kafka.py") == "shared/meeting_shared/kafka.py"
    assert missing_path("shared/meeting_shared/bus/kafka.py") is None
    assert missing_name("meeting_shared.delivery") == "meeting_shared.delivery"
    assert missing_name("meeting_shared.container.Container.open_services") is None
    assert missing_name("meeting_sfu.signaling.node.SignalingNode.nope") is not None
