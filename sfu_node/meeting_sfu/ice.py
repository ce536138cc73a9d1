"""ICE servers a client gets on join: the configured ones, and TURN with ephemeral credentials.

The credentials follow the TURN REST API (draft-uberti-behave-turn-rest-00) that coturn speaks
with ``use-auth-secret``: the username is ``expiry:user_id`` and the password is the base64
HMAC-SHA1 of the username under the shared secret, so the TURN server checks them without ever
talking to us, and a leaked credential stops working when it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

from meeting_shared.settings import Settings


def turn_credential(secret: str, user_id: uuid.UUID, expires_at: int) -> tuple[str, str]:
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(settings: Settings, user_id: uuid.UUID, now: float) -> list[dict[str, Any]]:
    servers = [dict(server) for server in settings.ice_servers]
    if settings.turn_urls and settings.turn_secret:
        expires_at = int(now) + settings.turn_credential_ttl_seconds
        username, credential = turn_credential(settings.turn_secret, user_id, expires_at)
        servers.append({"urls": settings.turn_urls, "username": username, "credential": credential})
    return servers
