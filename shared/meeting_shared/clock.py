"""Time in one place, so tests and domain code agree on 'now' (always UTC, always aware)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; one with no UTC representation (9999-12-31T23:30-05:00 is in the year
    10000 in UTC) is a ``ValueError``, which makes it invalid input where pydantic reads it."""
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range in UTC") from exc


# A time as requests give it: aware, and kept in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(in_utc)]
