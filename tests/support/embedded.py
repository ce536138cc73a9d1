"""An embedded deployment (SQLite, in-process state store and event bus, local blobs) to drive
through its domain services, with no HTTP server: for tests of the domain's rules."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select

from meeting_shared.container import Container
from meeting_shared.db.migrate import upgrade
from meeting_shared.db.models import OutboxEvent
from meeting_shared.enums import UserRole
from meeting_shared.services.accounts import Registration
from meeting_shared.services.actors import Actor
from meeting_shared.services.factory import Services
from meeting_shared.services.meetings import MeetingDraft
from meeting_shared.settings import Settings
from tests.support.api import PASSWORD
from tests.support.settings import deployment_settings


def embedded_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of `make run`'s deployment: SQLite in ``data_dir``, nothing else to run."""
    backends = {
        "database_url": f"sqlite:///{data_dir / 'meeting.db'}",
        "redis_url": "",
        "s3_endpoint": "",
        "kafka_bootstrap_servers": "",
    }
    return deployment_settings(data_dir, backends, **overrides)


def migrate_sqlite(path: Path) -> None:
    """Create the schema in a SQLite file as `meeting serve` does on first start."""
    with ThreadPoolExecutor(max_workers=1) as pool:  # Alembic runs an event loop of its own
        pool.submit(upgrade, f"sqlite:///{path}").result()


class Deployment:
    """One embedded deployment; each ``services()`` block is one unit of work, as a request is."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def services(self) -> contextlib.AbstractAsyncContextManager[Services]:
        return self.container.open_services()

    async def user(self, prefix: str = "user") -> Actor:
        """A new registered user, acting as themselves."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        registration = Registration(username=name, email=f"{name}@example.com", password=PASSWORD)
        async with self.services() as services:
            user = await services.accounts.register(registration, client_ip="127.0.0.1")
        return Actor(user_id=user.id, role=UserRole.USER, session_id=uuid.uuid4())

    async def meeting(self, host: Actor, **draft: Any) -> uuid.UUID:
        """A new meeting hosted by ``host``; ``draft`` as MeetingDraft takes it."""
        async with self.services() as services:
            view = await services.meetings.create(
                host, MeetingDraft.model_validate({"title": "Weekly sync", **draft})
            )
        return view.meeting.id

    async def events(self, meeting_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
        """The events recorded about a meeting, in order: type and data."""
        async with self.container.db.session() as session:
            rows = await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.key == str(meeting_id))
                .order_by(OutboxEvent.seq)
            )
            return [(row.type, row.payload["data"]) for row in rows]


@contextlib.asynccontextmanager
async def embedded_deployment(
    template: Path, data_dir: Path, **overrides: Any
) -> AsyncIterator[Deployment]:
    """A deployment over a copy of the migrated database ``template`` (migrating takes a while)."""
    shutil.copyfile(template, data_dir / "meeting.db")
    container = Container.build(embedded_settings(data_dir, **overrides))
    try:
        yield Deployment(container)
    finally:
        await container.aclose()
