"""Writes ``docs/signaling.schema.json``: the protocol's frames as JSON Schema (draft 2020-12).

    python -m meeting_sfu.schema            (rewrite the file)

A test fails when the committed file differs from what the models say. The schema names each
model as the protocol does (``MeetingEnded``), not as its class (``MeetingEndedFrame``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from meeting_sfu import protocol
from meeting_sfu.protocol import PROTOCOL_VERSION, ClientFrame, JoinFrame, ServerFrame, WireModel

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "signaling.schema.json"

# Class name -> name in the schema, for every model of the protocol (its title).
WIRE_NAMES = {
    name: model.model_config.get("title") or protocol.wire_name(model)
    for name, model in vars(protocol).items()
    if isinstance(model, type) and issubclass(model, WireModel)
}


class WireSchema(GenerateJsonSchema):
    """Keys the ``$defs`` by the models' wire names (their titles)."""

    def normalize_name(self, name: str) -> str:
        return WIRE_NAMES.get(name) or super().normalize_name(name)


def protocol_schema() -> dict[str, Any]:
    client: dict[str, Any] = TypeAdapter(JoinFrame | ClientFrame).json_schema(
        mode="validation", schema_generator=WireSchema
    )
    server: dict[str, Any] = TypeAdapter(ServerFrame).json_schema(
        mode="serialization", schema_generator=WireSchema
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"meeting-system signaling protocol v{PROTOCOL_VERSION}",
        "description": "Frames on /ws/signaling; see docs/signaling.md.",
        "version": PROTOCOL_VERSION,
        "client_to_server": client,
        "server_to_client": server,
    }


def render() -> str:
    return json.dumps(protocol_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_PATH.write_text(render())
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")


if __name__ == "__main__":
    main()
