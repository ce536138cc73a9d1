"""Time in one place, so tests and domain code agree on 'now' (always UTC, always aware)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
