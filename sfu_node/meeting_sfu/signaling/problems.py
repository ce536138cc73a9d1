"""The signaling side's one error map: what a refused join or frame tells the client."""

from __future__ import annotations

from pydantic import ValidationError

from meeting_shared.errors import MeetingError


def describe(exc: ValidationError | MeetingError) -> tuple[str, str]:
    """The ``code`` and ``message`` of the ``error`` frame that answers ``exc``."""
    if isinstance(exc, MeetingError):
        return exc.code, exc.detail
    errors = exc.errors()
    if not errors:
        return "invalid_frame", "The frame is not valid"
    first = errors[0]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "unknown_type", "Unknown frame type"
    where = ".".join(str(part) for part in first["loc"]) or "frame"
    return "invalid_frame", f"{where}: {first['msg']}"
