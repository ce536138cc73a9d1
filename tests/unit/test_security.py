"""Tokens and secrets: JWT audiences, CSRF double-submit tokens, sealing, node assignment."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from meeting_shared.db.pagination import like_pattern
from meeting_shared.errors import Unauthenticated
from meeting_shared.security import CsrfTokens, Sealer, TokenService, token_digest

pytestmark = pytest.mark.unit

SECRET = "s" * 40


def test_access_and_join_tokens_do_not_mix() -> None:
    tokens = TokenService(SECRET, issuer="test", access_ttl=60, join_ttl=60)
    user, session = uuid.uuid4(), uuid.uuid4()
    access, _ = tokens.issue_access(user, session, "user")
    claims = tokens.read_access(access)
    assert (claims.user_id, claims.session_id, claims.role) == (user, session, "user")
    with pytest.raises(Unauthenticated, match="not valid"):
        tokens.read_join(access)
    join, _ = tokens.issue_join(
        user_id=user, meeting_id=uuid.uuid4(), participant_id=uuid.uuid4(), role="host", node_id="n"
    )
    with pytest.raises(Unauthenticated):
        tokens.read_access(join)
    other = TokenService("o" * 40, issuer="test", access_ttl=60, join_ttl=60)
    with pytest.raises(Unauthenticated):
        other.read_access(access)


def test_expired_and_unsigned_tokens_are_refused() -> None:
    tokens = TokenService(SECRET, issuer="test", access_ttl=-1, join_ttl=60)
    expired, _ = tokens.issue_access(uuid.uuid4(), uuid.uuid4(), "user")
    with pytest.raises(Unauthenticated) as caught:
        tokens.read_access(expired)
    assert caught.value.code == "token_expired"
    forged = jwt.encode({"sub": str(uuid.uuid4()), "alg": "none"}, key="", algorithm="none")
    with pytest.raises(Unauthenticated):
        tokens.read_access(forged)


def test_csrf_tokens_must_match_and_carry_our_mac() -> None:
    csrf = CsrfTokens(SECRET)
    token = csrf.issue()
    assert csrf.valid(token, token)
    assert not csrf.valid(token, None)
    assert not csrf.valid(token, csrf.issue())
    nonce, _, _ = token.partition(".")
    assert not csrf.valid(f"{nonce}.forged", f"{nonce}.forged")
    assert not CsrfTokens("x" * 40).valid(token, token)


def test_sealed_values_round_trip_and_resist_tampering() -> None:
    sealer = Sealer(SECRET)
    sealed = sealer.seal("reset-token")
    assert "reset-token" not in sealed
    assert sealer.open(sealed) == "reset-token"
    with pytest.raises(ValueError, match="tampered"):
        Sealer("x" * 40).open(sealed)


def test_token_digest_is_stable_and_one_way() -> None:
    assert token_digest("abc") == token_digest("abc") != token_digest("abd")
    assert len(token_digest("abc")) == 64


def test_like_patterns_escape_wildcards() -> None:
    assert like_pattern(" Ann%_\\ ") == "%ann\\%\\_\\\\%"


def test_a_remembered_access_token_still_expires() -> None:
    tokens = TokenService(SECRET, issuer="test", access_ttl=1, join_ttl=60)
    token, _ = tokens.issue_access(uuid.uuid4(), uuid.uuid4(), "user")
    first = tokens.read_access(token)
    assert tokens.read_access(token) is first  # verified once, remembered
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(Unauthenticated):
        tokens.read_access(forged)  # a different string is verified from scratch
    time.sleep(1.1)
    with pytest.raises(Unauthenticated) as caught:
        tokens.read_access(token)
    assert caught.value.code == "token_expired"
