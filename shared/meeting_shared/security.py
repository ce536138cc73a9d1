"""Passwords, tokens and secrets: argon2id hashes, JWTs, opaque tokens, sealing and CSRF tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from meeting_shared.clock import utcnow
from meeting_shared.enums import UserRole
from meeting_shared.errors import Unauthenticated, Unavailable

T = TypeVar("T")


class PasswordHasher:
    """argon2id; unknown users are checked against a dummy hash, as slow as known ones.

    Hashing is deliberately expensive, so it runs on a small pool of its own threads with a
    bounded queue: a burst of sign-ins waits its turn or gets a quick 503 instead of starving
    every other request of the event loop and the default thread pool.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        max_concurrent: int | None = None,
        max_waiting: int = 64,
    ) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        workers = max_concurrent or max(1, min(4, (os.cpu_count() or 2) - 1))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._max_pending = workers + max_waiting
        self._pending = 0

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await self._run(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            ok = self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and bool(password_hash)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        if self._pending >= self._max_pending:
            raise Unavailable("Too many sign-ins at once; try again in a moment", retry_after=1)
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def new_opaque_token() -> str:
    """A random URL-safe token (256 bits) for refresh, reset and invite links."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """How opaque tokens are stored: SHA-256 is enough for 256-bit random secrets."""
    return hashlib.sha256(token.encode()).hexdigest()


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    """A separate key per purpose from the one configured secret."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret.encode()
    )


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    role: UserRole
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class JoinClaims:
    user_id: uuid.UUID
    meeting_id: uuid.UUID
    participant_id: uuid.UUID
    role: str
    node_id: str
    token_id: str  # unique per token: a node accepts each join token once
    expires_at: datetime


MAX_VERIFIED_TOKENS = 50_000


class TokenService:
    """Issues and checks signed JWTs (HS256) for API access and for joining a media node."""

    ACCESS_AUDIENCE = "meeting-api"
    JOIN_AUDIENCE = "meeting-signaling"

    def __init__(self, secret: str, *, issuer: str, access_ttl: int, join_ttl: int) -> None:
        self._key = derive_key(secret, "jwt-signing")
        self._issuer = issuer
        self.access_ttl = access_ttl
        self.join_ttl = join_ttl
        # A client sends the same access token for its whole life; verifying it once is enough
        # (measured: PyJWT's checks were an eighth of a cached list request). Keyed by the whole
        # token, signature included, so only a token already verified can hit.
        self._verified: dict[str, AccessClaims] = {}

    def _encode(self, claims: dict[str, Any], audience: str, ttl: int) -> tuple[str, datetime]:
        now = utcnow()
        expires = now + timedelta(seconds=ttl)
        payload = {**claims, "iss": self._issuer, "aud": audience, "iat": now, "exp": expires}
        return jwt.encode(payload, self._key, algorithm="HS256"), expires

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The token is not valid", code="invalid_token") from exc
        return claims

    def issue_access(
        self, user_id: uuid.UUID, session_id: uuid.UUID, role: str
    ) -> tuple[str, datetime]:
        claims = {"sub": str(user_id), "sid": str(session_id), "role": role}
        return self._encode(claims, self.ACCESS_AUDIENCE, self.access_ttl)

    def read_access(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > utcnow():
                return known
            del self._verified[token]
        claims = self._decode(token, self.ACCESS_AUDIENCE)
        try:
            verified = AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                # A role this version does not know is no role: the token is refused (401).
                role=UserRole(claims["role"]),
                expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:  # claims of other shapes
            raise Unauthenticated("The token is not valid", code="invalid_token") from exc
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = verified
        return verified

    def issue_join(
        self,
        *,
        user_id: uuid.UUID,
        meeting_id: uuid.UUID,
        participant_id: uuid.UUID,
        role: str,
        node_id: str,
    ) -> tuple[str, datetime]:
        claims = {
            "sub": str(user_id),
            "mid": str(meeting_id),
            "pid": str(participant_id),
            "role": role,
            "node": node_id,
            "jti": uuid.uuid4().hex,
        }
        return self._encode(claims, self.JOIN_AUDIENCE, self.join_ttl)

    def read_join(self, token: str) -> JoinClaims:
        claims = self._decode(token, self.JOIN_AUDIENCE)
        try:
            return JoinClaims(
                user_id=uuid.UUID(claims["sub"]),
                meeting_id=uuid.UUID(claims["mid"]),
                participant_id=uuid.UUID(claims["pid"]),
                role=str(claims["role"]),
                node_id=str(claims["node"]),
                token_id=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:  # claims of other shapes
            raise Unauthenticated("The token is not valid", code="invalid_token") from exc


class Sealer:
    """Authenticated encryption for secrets that must travel inside events (e.g. reset tokens)."""

    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, "event-sealing")))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("sealed value was tampered with or uses another key") from exc


class CsrfTokens:
    """Signed double-submit tokens: the cookie and the header must match and carry our MAC."""

    def __init__(self, secret: str) -> None:
        self._key = derive_key(secret, "csrf")

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac(nonce)}"

    def valid(self, cookie: str | None, header: str | None) -> bool:
        if not cookie or not header or not hmac.compare_digest(cookie, header):
            return False
        nonce, _, mac = header.partition(".")
        return bool(nonce) and hmac.compare_digest(mac, self._mac(nonce))

    def _mac(self, nonce: str) -> str:
        digest = hmac.new(self._key, nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()
