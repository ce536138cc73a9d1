"""Engine construction for SQLite (embedded) and PostgreSQL through psycopg 3 (production)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from meeting_shared.errors import InvalidInput, Unavailable
from meeting_shared.text import refuse_unstorable_text


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``sqlite:///`` URLs and pick the async drivers we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _refuse_unstorable_parameters(
    _conn: Any,
    _cursor: Any,
    _statement: str,
    parameters: Any,
    _context: Any,
    _executemany: bool,
) -> None:
    # PostgreSQL refuses NUL in text, SQLite keeps it: refusing it here, before either sees it,
    # makes both answer the same 422 for text that reached the database by any way.
    refuse_unstorable_text(parameters)


def _json_text(value: Any) -> str:
    # JSON columns are serialized before the statement sees them; jsonb refuses an escaped NUL.
    refuse_unstorable_text(value)
    return json.dumps(value)


def _unwrap_invalid_input(context: ExceptionContext) -> None:
    # SQLAlchemy wraps what a bind processor raises (the JSON check above, on SQLite) in a
    # StatementError: the caller gets the validation error itself.
    if isinstance(context.original_exception, InvalidInput):
        raise context.original_exception


class Database:
    """The engine and session factory; one per process (or Lambda execution environment)."""

    def __init__(
        self, url: str, *, pool_size: int = 10, pre_ping: bool = False, echo: bool = False
    ) -> None:
        self.url = async_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "json_serializer": _json_text}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                # A ping per checkout costs a round trip on every request; without it, a
                # connection the server dropped fails one request (503) and is replaced.
                pool_pre_ping=pre_ping,
                pool_recycle=1800,
                connect_args={"connect_timeout": 5},
            )
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        # Reads get a pool of their own whose connections stay in autocommit: no BEGIN, no
        # ROLLBACK on return, no switching modes per checkout (each saves a round trip).
        self.read_engine: AsyncEngine = create_async_engine(
            self.url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **kwargs
        )
        for engine in (self.engine, self.read_engine):
            if self.dialect == "sqlite":
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "before_cursor_execute", _refuse_unstorable_parameters)
            event.listen(engine.sync_engine, "handle_error", _unwrap_invalid_input)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    def read_session(self) -> AsyncSession:
        """A session for requests that only read (each statement is its own transaction)."""
        return self.read_sessionmaker()

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (DBAPIError, OSError) as exc:
            raise Unavailable("The database cannot be reached") from exc

    async def aclose(self) -> None:
        await self.read_engine.dispose()
        await self.engine.dispose()
