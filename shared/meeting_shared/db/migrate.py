"""Schema migrations with Alembic, driven from code (``meeting migrate``), no alembic.ini."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from meeting_shared.db.engine import Database, async_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run on every start."""
    Database(database_url)  # creates the SQLite file's directory when needed
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """``upgrade`` for callers already inside an event loop (Alembic's env runs its own loop)."""
    await asyncio.to_thread(upgrade, database_url, revision)
