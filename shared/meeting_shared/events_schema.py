"""``python -m meeting_shared.events_schema`` writes docs/events.schema.json: the envelope and
the ``data`` schema of every event type, from the models (a test fails when the file is stale)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from meeting_shared.events import Event, EventData

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "events.schema.json"


def schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "meeting-system events",
        "envelope": Event.model_json_schema(),
        "types": {
            event_type: {
                "schema_version": cls.schema_version,
                "data": cls.model_json_schema(),
            }
            for event_type, cls in sorted(EventData.registry.items())
        },
    }


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
    sys.stdout.write(f"wrote {OUTPUT}\n")
