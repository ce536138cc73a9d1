"""Event consumers that tell people things: password-reset and invitation mails."""

from __future__ import annotations

import logging

from meeting_shared.bus import EventBus
from meeting_shared.db.engine import Database
from meeting_shared.db.models import Meeting, User
from meeting_shared.events import (
    Event,
    InviteCreated,
    PasswordResetRequested,
    parse_event_data,
)
from meeting_shared.mail import Mail, Mailer
from meeting_shared.security import Sealer
from meeting_shared.services.accounts import issue_password_reset

logger = logging.getLogger(__name__)


class Notifier:
    def __init__(
        self, *, db: Database, mailer: Mailer, sealer: Sealer, public_url: str, reset_ttl: int
    ) -> None:
        self._db = db
        self._mailer = mailer
        self._sealer = sealer
        self._public_url = public_url
        self._reset_ttl = reset_ttl

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(
            PasswordResetRequested.event_type, self.on_password_reset_requested, "reset-mail"
        )
        bus.subscribe(InviteCreated.event_type, self.on_invite_created, "invite-mail")

    async def on_invite_created(self, event: Event) -> None:
        """A person invited by name gets a mail with the meeting's link (invite links are
        shared by the host instead)."""
        data = parse_event_data(event)
        assert isinstance(data, InviteCreated)
        if data.invitee_id is None:
            return
        async with self._db.read_session() as session:
            invitee = await session.get(User, data.invitee_id)
            inviter = await session.get(User, data.actor_id)
            meeting = await session.get(Meeting, data.meeting_id)
        if invitee is None or meeting is None:
            return
        when = f" on {meeting.start_time:%Y-%m-%d at %H:%M} UTC"
        host = inviter.display_name if inviter else "A host"
        await self._mailer.send(
            Mail(
                to=invitee.email,
                subject=f"Invitation: {meeting.title}",
                text=(
                    f'Hello {invitee.display_name},\n\n{host} invited you to "{meeting.title}"'
                    f"{when}.\n\nJoin here: {self._public_url}/join/{meeting.id}\n"
                ),
            )
        )
        logger.info("invitation mail sent", extra={"user_id": str(invitee.id)})

    async def on_password_reset_requested(self, event: Event) -> None:
        """The link for an address with an active account; nothing for any other address."""
        data = parse_event_data(event)
        assert isinstance(data, PasswordResetRequested)
        async with self._db.session() as session:
            issued = await issue_password_reset(
                session, self._sealer.open(data.sealed_email), ttl_seconds=self._reset_ttl
            )
            if issued is None:
                return
            await session.commit()
        user, expires_at = issued.user, issued.expires_at
        link = f"{self._public_url}/reset-password?token={issued.token}"
        await self._mailer.send(
            Mail(
                to=user.email,
                subject="Reset your meeting-system password",
                text=(
                    f"Hello {user.display_name},\n\nSomeone asked to reset the password of your "
                    f"account. Open this link to choose a new one (it expires at "
                    f"{expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}\n\n"
                    "If it was not you, ignore this mail.\n"
                ),
            )
        )
        logger.info("password reset mail sent", extra={"user_id": str(user.id)})
