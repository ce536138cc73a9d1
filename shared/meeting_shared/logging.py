"""JSON logs with the request and trace ids, configured only at entry points
(``configure_logging``)."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from meeting_shared.telemetry import current_trace_id

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestIdFilter(logging.Filter):
    """The request's id and the current trace's, so a log line leads to its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.trace_id = current_trace_id()
        return True


def json_log_handler(stream: TextIO) -> logging.Handler:
    """A handler writing one JSON object a line to ``stream``, with the request and trace ids."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}{trace_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_RequestIdFilter())
    return handler


def configure_logging(level: str = "INFO") -> None:
    handler = json_log_handler(sys.stderr)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "aiosqlite", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
