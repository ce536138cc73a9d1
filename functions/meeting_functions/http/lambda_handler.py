"""Lambda entry points: Mangum over the same FastAPI apps, built once per execution environment.

Settings come from the environment as everywhere; the secret ones (JWT_SECRET, DATABASE_URL, ...)
from the Secrets Manager secret named by ``MEETING_SECRETS_ARN`` (a JSON object of environment
names), read once per execution environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from meeting_shared.logging import configure_logging
from meeting_shared.settings import get_settings

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
SECRETS_ARN = "MEETING_SECRETS_ARN"
_SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")


def load_secrets() -> None:
    """Put the secret's settings into the environment, before the settings are read."""
    arn = os.environ.get(SECRETS_ARN)
    if not arn:
        return
    from aws_lambda_powertools.utilities import parameters  # only Lambda needs it

    values = parameters.get_secret(arn, transform="json", max_age=3600)
    if not isinstance(values, dict):
        raise RuntimeError(f"{SECRETS_ARN} must name a secret holding a JSON object")
    for name, value in values.items():
        if not _SETTING_NAME.match(name) or not isinstance(value, str | int | float | bool):
            raise RuntimeError(f"the secret holds {name!r}: not a setting name with a value")
        os.environ[name] = str(value)
    get_settings.cache_clear()


def lambda_handler_for(create_app: Callable[[], FastAPI]) -> LambdaHandler:
    """A handler that builds the app on first use; ``lifespan="off"`` since Mangum would run it
    on every invocation."""
    adapter: Mangum | None = None

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal adapter
        if adapter is None:
            load_secrets()
            settings = get_settings()
            configure_logging(settings.log_level)
            adapter = Mangum(
                create_app(),
                lifespan="off",
                api_gateway_base_path=settings.api_gateway_base_path,
                # Problem details are JSON: keep them readable rather than base64.
                text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"],
            )
        result: dict[str, Any] = adapter(event, context)
        return result

    return handler
