"""The migrations as a Lambda function: the deploy step invokes it once the stack is up (the
database sits in the VPC, where the functions are; a laptop may not reach it)."""

from __future__ import annotations

from typing import Any

from meeting_functions.http.lambda_handler import load_secrets
from meeting_shared.db.migrate import upgrade
from meeting_shared.logging import configure_logging
from meeting_shared.settings import get_settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    load_secrets()
    settings = get_settings()
    configure_logging(settings.log_level)
    upgrade(settings.database_url)
    return {"migrated": True}
