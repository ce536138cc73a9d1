"""Settings, read once from the environment (and an optional ``.env`` file).

Every backend is chosen here: leave ``REDIS_URL``/``S3_ENDPOINT`` unset and the embedded adapters
run in-process; set them and the same code talks to Redis and S3. Production refuses to start with
placeholder secrets; elsewhere an unset ``JWT_SECRET`` is generated once into ``DATA_DIR``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

logger = logging.getLogger(__name__)

# Once the default, so public: refused in every environment (an old .env may still carry it).
PUBLIC_JWT_SECRETS = frozenset({"dev-only-insecure-jwt-secret-change-me"})
JWT_SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, under DATA_DIR
_PLACEHOLDER_KEYS = {"", "minioadmin", "admin", "password", "secret", "changeme", "test", "any"}
MIN_SECRET_LENGTH = 32
ASR_MAX_AUDIO_SECONDS = 30.0  # Whisper's window: the longest clip one transcription takes


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class MediaNode(BaseModel):
    """A media (signaling + SFU) node that rooms can be assigned to."""

    id: str
    signaling_url: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Environment = Environment.DEVELOPMENT

    # Local gateway
    host: str = "127.0.0.1"
    port: int = 8800
    public_url: str = Field(
        default="",
        description="Base URL clients use to reach the gateway; default http://HOST:PORT",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    web_dir: Path = Path("web/dist")
    data_dir: Path = Path("var")
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str = Field(
        default="", description="OTLP/HTTP trace collector (http://collector:4318); empty: none"
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        description="Port of a /metrics of its own (on HOST) for every command (serve, sfu, "
        "relay, recorder, gpu-node): keep it off the public network; 0: none",
    )
    metrics_token: str = Field(
        default="",
        description="Bearer token that /metrics on the API or signaling port asks for; empty: "
        "that /metrics is not served (use METRICS_PORT)",
        repr=False,
    )
    api_gateway_base_path: str = Field(
        default="/", description="Stage prefix stripped from paths behind API Gateway"
    )

    # Backends: embedded when unset
    database_url: str = ""
    database_pool_size: int = 10
    database_pool_pre_ping: bool = False
    redis_url: str = ""
    s3_endpoint: str = ""
    s3_public_endpoint: str = ""
    s3_bucket: str = "meeting-media"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""

    # Auth
    jwt_secret: str = Field(
        default="",
        description="Signs tokens and URLs; empty: a random one generated once into "
        "DATA_DIR/jwt_secret (refused in production)",
    )
    jwt_issuer: str = "meeting-system"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    join_token_ttl_seconds: int = 120
    password_reset_ttl_seconds: int = 3600
    revocation_recheck_seconds: float = 2.0
    cookie_secure: bool | None = None  # default: on in production
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    # Rate limits: "COUNT/SECONDS"
    rate_limit_login: str = "10/60"
    rate_limit_login_ip: str = "60/60"
    rate_limit_register: str = "20/3600"
    rate_limit_password_reset: str = "5/900"  # noqa: S105 - a rate, not a password
    rate_limit_password_reset_confirm: str = "30/900"  # noqa: S105 - a rate, not a password
    rate_limit_refresh: str = "60/60"
    rate_limit_chat: str = "20/10"
    trust_forwarded_for: bool = False

    # Meetings and media
    media_nodes: Annotated[list[MediaNode], NoDecode] = Field(default_factory=list)
    node_id: str = Field(
        default="", description="This process's media node id (default: the first)"
    )
    embedded_media_node: bool = Field(
        default=True,
        description="`meeting serve` is also a media node (turn off when `meeting sfu` nodes run)",
    )
    media_node_heartbeat_seconds: float = Field(default=5.0, gt=0)
    media_node_stale_seconds: float = Field(
        default=15.0, gt=0, description="A node silent this long is dead: its rooms move"
    )
    ice_servers: Annotated[list[dict[str, Any]], NoDecode] = Field(default_factory=list)
    ice_host_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses the SFU offers as host candidates (default: every interface)",
    )
    turn_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="TURN server URLs handed to clients with ephemeral credentials",
    )
    turn_secret: str = Field(default="", description="Shared secret of the TURN REST API")
    turn_credential_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    media_camera_bitrate: int = 1_500_000
    media_screen_bitrate: int = 2_500_000
    meeting_list_cache_ttl_seconds: float = 30.0
    upload_max_bytes: int = 200 * 1024 * 1024
    avatar_max_bytes: int = 5 * 1024 * 1024
    avatar_size: int = 256
    image_max_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="Largest picture (width x height) decoded: avatars, media files, video frames",
    )
    upload_url_ttl_seconds: int = 900
    download_url_ttl_seconds: int = 300

    # Events: Kafka when KAFKA_BOOTSTRAP_SERVERS is set, else in-process (embedded)
    kafka_bootstrap_servers: str = Field(
        default="", description="Comma-separated host:port list; empty keeps events in-process"
    )
    kafka_topic_prefix: str = "meeting."
    kafka_replication_factor: int = Field(default=1, ge=1, description="For topics we create")
    kafka_consumer_group: str = Field(
        default="", description="This process's consumer group (default: by role and node)"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = Field(default="", description="CA bundle for SSL/SASL_SSL brokers")

    # AI nodes (Triton): `meeting gpu-node`, or embedded in `meeting serve`
    embedded_ai_node: bool = Field(
        default=True,
        description="`meeting serve` also runs an AI node (off when `meeting gpu-node` runs)",
    )
    ai_node_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Triton HTTP URLs of AI nodes (default: the nodes that announce themselves)",
    )
    ai_node_host: str = Field(
        default="127.0.0.1", description="Address this AI node binds and announces"
    )
    ai_http_port: int = 8000
    ai_grpc_port: int = 8001
    ai_metrics_port: int = 8002
    ai_model_dir: Path | None = Field(
        default=None, description="Where model files are prepared (default: DATA_DIR/models)"
    )
    ai_cpu_threads: int = Field(default=0, ge=0, description="Per model on CPU; 0 = all cores")
    ai_request_timeout_seconds: float = Field(default=30.0, gt=0)
    ai_node_heartbeat_seconds: float = Field(default=5.0, gt=0)
    ai_node_stale_seconds: float = Field(default=15.0, gt=0)
    ai_retry_after_seconds: int = Field(default=10, ge=1, description="Told to callers on 503")
    rate_limit_ai: str = "60/60"
    rate_limit_asr_audio: str = Field(
        default="120/60",
        description="Seconds of audio per person per window (SECONDS/WINDOW) that /ai/asr takes",
    )
    ai_asr_in_flight_seconds: float = Field(
        default=ASR_MAX_AUDIO_SECONDS,
        ge=ASR_MAX_AUDIO_SECONDS,
        description="Seconds of audio one process has out at the AI nodes at once; later "
        "transcriptions wait their turn",
    )
    ai_asr_max_waiting_seconds: float = Field(
        default=120.0, ge=0, description="Seconds of audio that may wait; more is a 503 at once"
    )
    ai_asr_max_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="Longest a transcription waits for its turn before a 503 (asr_busy)",
    )

    # Recording
    embedded_recording_worker: bool = Field(
        default=True,
        description="`meeting serve` also mixes recordings (off when `meeting mixer` runs)",
    )
    recording_retention_days: int = Field(
        default=0, ge=0, description="Recordings older than this are deleted; 0 keeps them"
    )

    # Mail (password reset, invites): SMTP when configured, else a file sink
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = "meeting-system <no-reply@localhost>"

    @field_validator(
        "allowed_origins", "ice_host_addresses", "turn_urls", "ai_node_urls", mode="before"
    )
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("media_nodes", "ice_servers", mode="before")
    @classmethod
    def _parse_json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_placeholders(self) -> Self:
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        self.public_url = self.public_url.rstrip("/")
        if not self.allowed_origins:
            self.allowed_origins = [self.public_url]
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'meeting.db'}"
        if not self.media_nodes:
            ws_base = "ws" + self.public_url.removeprefix("http")
            self.media_nodes = [MediaNode(id="local", signaling_url=f"{ws_base}/ws/signaling")]
        if not self.node_id:
            self.node_id = self.media_nodes[0].id
        if self.media_node_stale_seconds <= self.media_node_heartbeat_seconds:
            raise ValueError("MEDIA_NODE_STALE_SECONDS must exceed MEDIA_NODE_HEARTBEAT_SECONDS")
        for spec in (
            self.rate_limit_login,
            self.rate_limit_login_ip,
            self.rate_limit_register,
            self.rate_limit_password_reset,
            self.rate_limit_password_reset_confirm,
            self.rate_limit_refresh,
            self.rate_limit_chat,
            self.rate_limit_ai,
            self.rate_limit_asr_audio,
        ):
            parse_rate(spec)
        if parse_rate(self.rate_limit_asr_audio)[0] < ASR_MAX_AUDIO_SECONDS:
            raise ValueError(
                f"RATE_LIMIT_ASR_AUDIO must allow at least {ASR_MAX_AUDIO_SECONDS:.0f} s of audio "
                "per window (one whole clip)"
            )
        if self.jwt_secret in PUBLIC_JWT_SECRETS:
            raise ValueError(
                "JWT_SECRET is a published placeholder: unset it (a random one is generated into "
                "DATA_DIR) or set a random value"
            )
        if self.environment is Environment.PRODUCTION:
            self._refuse_placeholders()
        return self

    def _refuse_placeholders(self) -> None:
        problems = []
        if len(self.jwt_secret) < MIN_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET must be set to a random value of >= {MIN_SECRET_LENGTH} chars"
            )
        if self.s3_endpoint and (
            self.s3_access_key.lower() in _PLACEHOLDER_KEYS
            or self.s3_secret_key.lower() in _PLACEHOLDER_KEYS
            or len(self.s3_secret_key) < 8
        ):
            problems.append("S3_ACCESS_KEY/S3_SECRET_KEY must be set to real credentials")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))

    @cached_property
    def signing_secret(self) -> str:
        """The secret every key is derived from: ``JWT_SECRET``, else the one generated into
        ``DATA_DIR`` on the first start (production has refused an unset one already)."""
        return self.jwt_secret or load_or_create_secret(self.data_dir / JWT_SECRET_FILE)

    @property
    def cookies_secure(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment is Environment.PRODUCTION

    @property
    def model_dir(self) -> Path:
        return self.ai_model_dir or self.data_dir / "models"

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap_servers.strip())

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_endpoint) or self.environment is Environment.PRODUCTION


def parse_rate(spec: str) -> tuple[int, float]:
    """Parse ``"COUNT/SECONDS"`` into (count, window)."""
    try:
        count, window = spec.split("/")
        parsed = int(count), float(window)
    except ValueError as exc:
        raise ValueError(f"rate limit {spec!r} must look like COUNT/SECONDS") from exc
    if parsed[0] < 1 or parsed[1] <= 0:
        raise ValueError(f"rate limit {spec!r} must be positive")
    return parsed


def load_or_create_secret(path: Path) -> str:
    """The secret in ``path``, made first when there is none: random, readable by its owner only.

    Processes starting at once agree on one secret: each writes a complete file of its own and
    links it to ``path``, which only the first link creates; the others read the winner's.
    """
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            logger.info("generated the signing secret", extra={"path": str(path)})
    finally:
        draft.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(
            f"{path} is readable by other users (mode {stat.filemode(mode)}): run chmod 600 on "
            "it, or delete it to generate a new secret (every session then ends)"
        )
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"{path} holds no secret of >= {MIN_SECRET_LENGTH} characters: delete it to "
            "generate a new one"
        )
    return secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use (never at import)."""
    return Settings()
