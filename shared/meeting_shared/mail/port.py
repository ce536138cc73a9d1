"""Outgoing mail: the port. Adapters: ``smtp`` when configured, else ``file``, a sink that
developers (and tests) can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...
