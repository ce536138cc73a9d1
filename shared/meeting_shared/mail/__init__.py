"""Outgoing mail: password-reset links and invitations."""

from meeting_shared.mail.port import Mail, Mailer

__all__ = ["Mail", "Mailer"]
