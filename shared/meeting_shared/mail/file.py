"""The development mailer: every message one JSON line in a file."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path

from meeting_shared.clock import utcnow
from meeting_shared.mail.port import Mail


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
