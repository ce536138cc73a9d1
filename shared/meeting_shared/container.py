"""Wiring: builds every adapter from settings, once per process (or Lambda environment)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession

from meeting_shared.ai.client import AiClient
from meeting_shared.ai.nodes import AiNodeDirectory
from meeting_shared.ai.transcription_queue import TranscriptionQueue
from meeting_shared.blobs import BlobStore
from meeting_shared.bus import EventBus
from meeting_shared.bus.delivery import DatabaseDeadLetters, Deliveries
from meeting_shared.bus.local import InProcessEventBus
from meeting_shared.bus.outbox import OutboxRelay
from meeting_shared.db.engine import Database
from meeting_shared.db.uow import UnitOfWork
from meeting_shared.mail import Mailer
from meeting_shared.mail.file import FileMailSink
from meeting_shared.mail.smtp import SmtpMailer
from meeting_shared.security import CsrfTokens, PasswordHasher, Sealer, TokenService, derive_key
from meeting_shared.services.audit import AuditLog
from meeting_shared.services.factory import ServiceParts, Services
from meeting_shared.services.meeting_lists import MeetingListCache
from meeting_shared.services.nodes import NodeDirectory
from meeting_shared.services.notifications import Notifier
from meeting_shared.services.rate_limits import RateLimiter
from meeting_shared.services.sessions import SessionRevocations
from meeting_shared.services.transcripts import TranscriptRecorder
from meeting_shared.settings import Settings
from meeting_shared.state import StateStore
from meeting_shared.telemetry import configure_tracing

logger = logging.getLogger(__name__)


def build_state_store(settings: Settings) -> StateStore:
    if settings.uses_redis:
        from meeting_shared.state.redis import RedisStateStore

        return RedisStateStore.from_url(settings.redis_url)
    from meeting_shared.state.memory import MemoryStateStore

    # Revocations must outlive the process here too: they are journaled under DATA_DIR.
    return MemoryStateStore(durable_path=settings.data_dir / "state" / "durable.jsonl")


def build_blob_store(settings: Settings) -> BlobStore:
    if settings.uses_s3:
        from meeting_shared.blobs.s3 import S3BlobStore

        return S3BlobStore(
            endpoint_url=settings.s3_endpoint or None,
            public_endpoint_url=settings.s3_public_endpoint or None,
            region=settings.s3_region,
            bucket=settings.s3_bucket,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
        )
    from meeting_shared.blobs.local import LocalBlobStore

    return LocalBlobStore(
        root=settings.data_dir / "blobs",
        signing_key=derive_key(settings.signing_secret, "blob-urls"),
        public_url=settings.public_url,
    )


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            sender=settings.mail_from,
        )
    return FileMailSink(settings.data_dir / "mail" / "outbox.jsonl")


# Processes that run the notification and audit consumers: the gateway (embedded or its workers)
# and `meeting relay`, which a deployment runs when its API lives in Lambda functions.
CONSUMING_ROLES = frozenset({"gateway", "relay"})


def consumer_group(settings: Settings, source: str) -> str:
    """This process's consumer group: one per role; each media node alone in its own."""
    if settings.kafka_consumer_group:
        return settings.kafka_consumer_group
    role = f"node-{settings.node_id}" if source == "sfu" else source
    return f"{settings.kafka_topic_prefix}{role}"


def build_event_bus(settings: Settings, db: Database, state: StateStore, source: str) -> EventBus:
    dead_letters = DatabaseDeadLetters(db)
    deliveries = Deliveries(
        group=consumer_group(settings, source), state=state, dead_letters=dead_letters
    )
    if not settings.uses_kafka:
        return InProcessEventBus(deliveries)
    from meeting_shared.bus.kafka import KafkaEventBus  # only deployments with Kafka load aiokafka

    bus = KafkaEventBus(settings, deliveries, from_beginning=source != "sfu")
    dead_letters.mirrors.append(bus.park)
    return bus


@dataclass
class Container:
    settings: Settings
    db: Database
    state: StateStore
    blobs: BlobStore
    bus: EventBus
    relay: OutboxRelay
    hasher: PasswordHasher
    tokens: TokenService
    sealer: Sealer
    csrf: CsrfTokens
    limiter: RateLimiter
    revocations: SessionRevocations
    mailer: Mailer
    meeting_lists: MeetingListCache
    nodes: NodeDirectory
    ai_nodes: AiNodeDirectory
    ai: AiClient
    asr_queue: TranscriptionQueue
    source: str

    @classmethod
    def build(cls, settings: Settings, *, source: str = "gateway") -> Container:
        configure_tracing(source, settings.otel_exporter_otlp_endpoint)
        db = Database(
            settings.database_url,
            pool_size=settings.database_pool_size,
            pre_ping=settings.database_pool_pre_ping,
        )
        state = build_state_store(settings)
        bus = build_event_bus(settings, db, state, source)
        sealer = Sealer(settings.signing_secret)
        mailer = build_mailer(settings)
        ai_nodes = AiNodeDirectory(
            state, settings.ai_node_urls, stale_after=settings.ai_node_stale_seconds
        )
        if source in CONSUMING_ROLES:  # once per deployment's group, not in every process
            notifier = Notifier(
                db=db,
                mailer=mailer,
                sealer=sealer,
                public_url=settings.public_url,
                reset_ttl=settings.password_reset_ttl_seconds,
            )
            notifier.subscribe(bus)
            AuditLog(db).subscribe(bus)
            TranscriptRecorder(db).subscribe(bus)
        return cls(
            settings=settings,
            db=db,
            state=state,
            blobs=build_blob_store(settings),
            bus=bus,
            relay=OutboxRelay(db, bus),
            hasher=PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            ),
            tokens=TokenService(
                settings.signing_secret,
                issuer=settings.jwt_issuer,
                access_ttl=settings.access_token_ttl_seconds,
                join_ttl=settings.join_token_ttl_seconds,
            ),
            sealer=sealer,
            csrf=CsrfTokens(settings.signing_secret),
            limiter=RateLimiter(
                state,
                {
                    "login": settings.rate_limit_login,
                    "login_ip": settings.rate_limit_login_ip,
                    "register": settings.rate_limit_register,
                    "password_reset": settings.rate_limit_password_reset,
                    "password_reset_confirm": settings.rate_limit_password_reset_confirm,
                    "refresh": settings.rate_limit_refresh,
                    "chat": settings.rate_limit_chat,
                    "ai": settings.rate_limit_ai,
                    "asr_audio": settings.rate_limit_asr_audio,
                },
            ),
            revocations=SessionRevocations(
                state,
                access_ttl=settings.access_token_ttl_seconds,
                recheck_after=settings.revocation_recheck_seconds,
            ),
            mailer=mailer,
            meeting_lists=MeetingListCache(state, ttl=settings.meeting_list_cache_ttl_seconds),
            nodes=NodeDirectory(
                state, settings.media_nodes, stale_after=settings.media_node_stale_seconds
            ),
            ai_nodes=ai_nodes,
            ai=AiClient(
                ai_nodes,
                timeout=settings.ai_request_timeout_seconds,
                retry_after=settings.ai_retry_after_seconds,
            ),
            asr_queue=TranscriptionQueue(
                in_flight=settings.ai_asr_in_flight_seconds,
                max_waiting=settings.ai_asr_max_waiting_seconds,
                max_wait=settings.ai_asr_max_wait_seconds,
                retry_after=settings.ai_retry_after_seconds,
            ),
            source=source,
        )

    def unit_of_work(self, session: AsyncSession) -> UnitOfWork:
        return UnitOfWork(
            session,
            source=self.source,
            on_commit=self.relay.notify,
            after_commit=(self.meeting_lists.after_commit,),
        )

    @cached_property
    def service_parts(self) -> ServiceParts:
        return ServiceParts(
            settings=self.settings,
            blobs=self.blobs,
            hasher=self.hasher,
            tokens=self.tokens,
            sealer=self.sealer,
            limiter=self.limiter,
            revocations=self.revocations,
            nodes=self.nodes,
        )

    def services(self, uow: UnitOfWork) -> Services:
        return Services(uow, self.service_parts)

    @asynccontextmanager
    async def open_services(self, *, read_only: bool = False) -> AsyncIterator[Services]:
        """The services over a fresh session, for code outside a request (the media node, workers).

        ``read_only`` gives an autocommit session, as GET requests get.
        """
        session = self.db.read_session() if read_only else self.db.session()
        async with session:
            yield self.services(self.unit_of_work(session))

    async def aclose(self) -> None:
        self.hasher.close()
        await self.ai.aclose()
        await self.bus.aclose()
        await self.blobs.aclose()
        await self.state.aclose()
        await self.db.aclose()
