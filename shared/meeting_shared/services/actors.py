"""Who is calling: the authenticated user as the domain sees them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class UserRole(StrEnum):
    USER = "user"
    ADMIN = "admin"


class UserStatus(StrEnum):
    ACTIVE = "active"
    BANNED = "banned"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID
    role: UserRole
    session_id: uuid.UUID

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.ADMIN
