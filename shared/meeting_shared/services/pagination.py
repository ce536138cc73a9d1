"""Page-numbered listing shared by every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]

MAX_PAGE_SIZE = 100


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
    """Run ``query`` for one page and count all matching rows.

    Items are the first selected entity, or whole row tuples with ``whole_rows``.
    """
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    result = await session.execute(query.limit(request.page_size).offset(request.offset))
    items = [tuple(row) for row in result.all()] if whole_rows else list(result.scalars().all())
    return Page(items=items, total=total or 0, page=request.page, page_size=request.page_size)
