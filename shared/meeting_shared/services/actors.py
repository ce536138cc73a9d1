"""Who is calling: the authenticated user as the domain sees them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from meeting_shared.enums import UserRole


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID
    role: UserRole
    session_id: uuid.UUID

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.ADMIN
