"""Outgoing mail: SMTP when configured, else a file sink that developers (and tests) can read."""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from meeting_shared.clock import utcnow


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class FileMailSink:
    """Development mailer: appends each message as one JSON line to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self._append, mail)

    def _append(self, mail: Mail) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"sent_at": utcnow().isoformat(), **asdict(mail)})
        with self.path.open("a", encoding="utf-8") as sink:
            sink.write(line + "\n")


class SmtpMailer:
    def __init__(
        self, *, host: str, port: int, username: str, password: str, starttls: bool, sender: str
    ) -> None:
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._starttls = starttls
        self._sender = sender

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self._send, mail)

    def _send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.text)
        with smtplib.SMTP(self._host, self._port, timeout=10) as smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username:
                smtp.login(self._username, self._password)
            smtp.send_message(message)
