"""The relational store behaves the same on SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meeting_shared.bus.local import local_bus
from meeting_shared.bus.outbox import OutboxFeed, OutboxRelay
from meeting_shared.db.engine import Database
from meeting_shared.db.migrate import alembic_config, upgrade_async
from meeting_shared.db.models import Meeting, OutboxEvent, User
from meeting_shared.db.pagination import PageRequest
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.enums import UserRole
from meeting_shared.errors import Conflict, InvalidInput, Unauthenticated
from meeting_shared.events import Event, UserRegistered
from meeting_shared.security import PasswordHasher, Sealer, TokenService
from meeting_shared.services.accounts import AccountService, Credentials, Registration
from meeting_shared.services.actors import Actor
from meeting_shared.services.meetings import MeetingDraft, MeetingService
from meeting_shared.services.rate_limits import RateLimiter
from meeting_shared.services.sessions import SessionRevocations
from meeting_shared.services.user_admin import UserAdminService
from meeting_shared.state.memory import MemoryStateStore
from tests.support.databases import private_database

pytestmark = pytest.mark.contract

HASHER = PasswordHasher(time_cost=1, memory_kib=8192, parallelism=1)


@pytest.fixture(scope="module")
def contract_postgres(postgres_url: str) -> Iterator[str]:
    """A database of the module's own: a live test server's relay, polling the shared test
    database, must not publish (and so hide) the outbox events these tests check."""
    with private_database(postgres_url, "meeting_contract") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
        await upgrade_async(url)
    else:
        url = request.getfixturevalue("contract_postgres")
    db = Database(url)
    yield db
    await db.aclose()


def _uow(session: object, relay: OutboxRelay | None = None) -> UnitOfWork:
    return UnitOfWork(session, source="contract", on_commit=relay.notify if relay else None)  # type: ignore[arg-type]


def _user(name: str | None = None) -> User:
    name = name or f"u{uuid.uuid4().hex[:12]}"
    return User(username=name, email=f"{name}@example.com", display_name=name, password_hash=None)


async def test_schema_matches_the_models(database: Database) -> None:
    assert database.dialect in ("sqlite", "postgresql")
    # Raises if the migrations and the models disagree (Alembic runs its own loop: a thread).
    await asyncio.to_thread(command.check, alembic_config(database.url))


async def test_datetimes_come_back_aware_utc(database: Database) -> None:
    moment = datetime(2030, 5, 1, 12, 30, tzinfo=UTC) + timedelta(microseconds=123)
    user = _user()
    user.last_login_at = moment.astimezone(datetime.now().astimezone().tzinfo)
    async with database.session() as session:
        session.add(user)
        await session.commit()
    async with database.session() as session:
        loaded = await session.get(User, user.id)
        assert loaded is not None and loaded.last_login_at is not None
        assert loaded.last_login_at == moment
        assert loaded.last_login_at.tzinfo is not None
        assert loaded.created_at.utcoffset() == timedelta(0)
    naive = _user()
    naive.last_login_at = datetime(2030, 1, 1)
    async with database.session() as session:
        session.add(naive)
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


async def test_unique_violation_is_a_conflict(database: Database) -> None:
    name = f"dup{uuid.uuid4().hex[:10]}"
    async with database.session() as session:
        session.add(_user(name))
        await session.commit()
    async with database.session() as session:
        uow = _uow(session)
        session.add(_user(name))
        with pytest.raises(Conflict):
            await uow.commit()


async def test_text_neither_database_can_keep_alike_is_invalid_input(database: Database) -> None:
    # PostgreSQL refuses NUL in text and jsonb, SQLite would keep it: both refuse it the same way,
    # whatever way the text took to the database (the API checks requests before this).
    async def refused(work: object) -> None:
        async with database.session() as session:
            with pytest.raises(InvalidInput) as raised:
                await work(session)  # type: ignore[operator]
            assert raised.value.code == "invalid_character"
            await session.rollback()
            assert await session.scalar(select(User.id).limit(1)) is not None  # still usable

    async def insert_text(session: AsyncSession) -> None:
        session.add(_user(f"nul{uuid.uuid4().hex[:8]}\x00"))
        await session.commit()

    async def insert_json(session: AsyncSession) -> None:
        event = UserRegistered(user_id=uuid.uuid4(), username="nul\x00in-json")
        _uow(session).record(event)
        await session.commit()

    async def select_text(session: AsyncSession) -> None:
        await session.scalar(select(User).where(User.username == "a\x00b"))

    async def unpaired_surrogate(session: AsyncSession) -> None:
        await session.scalar(select(User).where(User.username == "a\ud800b"))

    async with database.session() as session:
        session.add(_user())
        await session.commit()
    for work in (insert_text, insert_json, select_text, unpaired_surrogate):
        await refused(work)


async def test_json_settings_round_trip(database: Database) -> None:
    host = _user()
    async with database.session() as session:
        session.add(host)
        await session.commit()
        service = MeetingService(_uow(session), hasher=HASHER)
        actor = Actor(user_id=host.id, role=UserRole.USER, session_id=uuid.uuid4())
        draft = MeetingDraft.model_validate(
            {"title": "Contract", "settings": {"require_approval": True, "chat": False}}
        )
        created = await service.create(actor, draft)
    async with database.session() as session:
        meeting = await session.get(Meeting, created.meeting.id)
        assert meeting is not None
        assert meeting.settings["require_approval"] is True
        assert meeting.settings["chat"] is False
        listed = await MeetingService(_uow(session), hasher=HASHER).list_mine(actor, PageRequest())
        assert [view.meeting.id for view in listed.items] == [meeting.id]


async def test_outbox_publishes_committed_events_once_in_order(database: Database) -> None:
    bus = local_bus()
    seen: list[Event] = []

    async def collect(event: Event) -> None:
        seen.append(event)

    bus.subscribe("user.*", collect)
    relay = OutboxRelay(database, bus)
    await relay.drain()  # earlier tests' events on a shared database
    seen.clear()
    ids = [uuid.uuid4() for _ in range(3)]
    async with database.session() as session:
        uow = _uow(session, relay)
        for user_id in ids:
            uow.record(UserRegistered(user_id=user_id, username=f"u{user_id.hex[:8]}"))
        await uow.commit()
        uow.record(UserRegistered(user_id=uuid.uuid4(), username="rolled-back"))
        await uow.rollback()

    assert await relay.drain() == 3
    assert [event.data["user_id"] for event in seen] == [str(user_id) for user_id in ids]
    assert await relay.drain() == 0
    async with database.session() as session:
        rows = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.key.in_([str(i) for i in ids]))
            )
        ).all()
        assert len(rows) == 3 and all(row.published and row.published_at for row in rows)


async def test_account_rules_hold_on_both_databases(database: Database) -> None:
    state = MemoryStateStore()
    tokens = TokenService("x" * 40, issuer="contract", access_ttl=60, join_ttl=60)
    revocations = SessionRevocations(state, access_ttl=60)
    name = f"c{uuid.uuid4().hex[:10]}"

    def service(session: object) -> AccountService:
        return AccountService(
            _uow(session),
            hasher=HASHER,
            tokens=tokens,
            revocations=revocations,
            limiter=RateLimiter(
                state,
                dict.fromkeys(
                    ("register", "login", "login_ip", "refresh", "password_reset"), "1000/60"
                ),
            ),
            sealer=Sealer("x" * 40),
            refresh_ttl=3600,
        )

    async with database.session() as session:
        await service(session).register(
            Registration(
                username=name.upper(), email=f"{name}@Example.com", password="long enough pw"
            ),
            client_ip="127.0.0.1",
        )
    async with database.session() as session:
        issued = await service(session).login(
            Credentials(login=f"{name}@example.com", password="long enough pw"),
            client_ip="127.0.0.1",
            user_agent=None,
        )
        assert issued.user.username == name
    async with database.session() as session:
        rotated = await service(session).refresh(
            issued.refresh_token, client_ip="1", user_agent=None
        )
        assert rotated.session_id == issued.session_id
    async with database.session() as session:
        with pytest.raises(Unauthenticated, match="already used"):
            await service(session).refresh(issued.refresh_token, client_ip="1", user_agent=None)
    assert await revocations.is_revoked(issued.session_id)
    async with database.session() as session:
        with pytest.raises(Unauthenticated):
            await service(session).refresh(rotated.refresh_token, client_ip="1", user_agent=None)

    # Search treats LIKE wildcards literally on both databases.
    async with database.session() as session:
        admin = UserAdminService(_uow(session), revocations=revocations, hasher=HASHER)
        found = await admin.list_users(PageRequest(), q=name[:6].upper())
        assert name in [user.username for user in found.items]
        assert (await admin.list_users(PageRequest(), q=name[:3] + "%")).total == 0
        assert (await admin.list_users(PageRequest(), q="_" * 5 + name[5:])).total == 0


async def test_outbox_feed_delivers_new_events_once_even_when_committed_late(
    database: Database,
) -> None:
    bus = local_bus()
    seen: list[str] = []

    async def collect(event: Event) -> None:
        seen.append(event.data["username"])

    bus.subscribe("user.registered", collect)
    async with database.session() as session:
        uow = _uow(session)
        uow.record(UserRegistered(user_id=uuid.uuid4(), username="before-the-feed"))
        await uow.commit()
    feed = OutboxFeed(database, bus)
    assert await feed.poll() == 0  # starts at the end

    async def commit(name: str) -> None:
        async with database.session() as session:
            uow = _uow(session)
            uow.record(UserRegistered(user_id=uuid.uuid4(), username=name))
            await uow.commit()

    await commit("first")
    await commit("second")
    assert await feed.poll() == 2
    await OutboxRelay(database, local_bus()).drain()  # relaying changes nothing here
    assert await feed.poll() == 0
    assert seen == ["first", "second"]

    if database.dialect == "postgresql":  # SQLite serializes writers: no late commits there
        async with database.session() as slow:
            uow = _uow(slow)
            uow.record(UserRegistered(user_id=uuid.uuid4(), username="late"))
            await slow.flush()  # takes its sequence number now, commits after "third"
            await commit("third")
            assert await feed.poll() == 1
            await uow.commit()
        assert await feed.poll() == 1
        assert seen == ["first", "second", "third", "late"]
