"""Page-numbered listing shared by every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]

MAX_PAGE_SIZE = 100
TOTAL_COLUMN = "total_rows"


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    page_size: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


async def paginate(
    session: AsyncSession, query: AnySelect, request: PageRequest, *, whole_rows: bool = False
) -> Page[Any]:
    """Run ``query`` for one page; the total comes from a window count in the same statement.

    Items are the first selected entity, or with ``whole_rows`` the rows themselves (read
    columns by name). Only a page past the end costs a second, counting query.
    """
    counted = query.add_columns(func.count().over().label(TOTAL_COLUMN))
    rows = (await session.execute(counted.limit(request.page_size).offset(request.offset))).all()
    if rows:
        total = int(rows[0][-1])
    else:
        count = select(func.count()).select_from(query.order_by(None).subquery())
        total = (await session.scalar(count)) or 0
    items = list(rows) if whole_rows else [row[0] for row in rows]
    return Page(items=items, total=total, page=request.page, page_size=request.page_size)


def like_pattern(text: str) -> str:
    """A ``LIKE`` pattern (escape character ``\\``) matching lowercase ``text`` anywhere, with
    the user's own ``%`` and ``_`` taken literally."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
