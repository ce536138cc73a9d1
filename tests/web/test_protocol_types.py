"""The web client's signaling types are the schema's: web/src/room/protocol.generated.ts is what
json-schema-to-typescript makes of docs/signaling.schema.json (which test_signaling_protocol
keeps equal to the media node's models), so a frame changed on the node and not in the client
fails here, and the client's type check then shows every place that has to follow."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # needs the web client's tools (`make web`: npm ci)

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
GENERATOR = WEB / "scripts" / "protocol-types.mjs"
GENERATED = WEB / "src" / "room" / "protocol.generated.ts"
SCHEMA = ROOT / "docs" / "signaling.schema.json"


@pytest.fixture(scope="module")
def generated() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: install Node.js >= 20.19 (see web/README.md)")
    if not (WEB / "node_modules" / "json-schema-to-typescript").is_dir():
        pytest.fail("the web client's tools are missing: run `make web` (npm ci in web/)")
    result = subprocess.run(
        [node, str(GENERATOR), "--print"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_committed_types_are_what_the_schema_generates(generated: str) -> None:
    assert GENERATED.read_text() == generated, "stale: run `npm run protocol` in web/"


@pytest.mark.parametrize(
    ("union", "side"), [("ClientFrame", "client_to_server"), ("ServerFrame", "server_to_client")]
)
def test_each_union_holds_every_frame_of_its_direction(
    generated: str, union: str, side: str
) -> None:
    definitions = json.loads(SCHEMA.read_text())[side]["$defs"].values()
    frames = [d for d in definitions if "const" in d.get("properties", {}).get("type", {})]
    assert len(frames) >= 15
    body = generated.split(f"export type {union} =", 1)[1].split(";", 1)[0]
    assert {frame["title"] for frame in frames} <= set(re.findall(r"\b[A-Z]\w+\b", body))
    for frame in frames:  # each frame's type, as a literal the client can switch on
        assert f'type: "{frame["properties"]["type"]["const"]}";' in generated, frame["title"]
