"""Lambda entry points: Mangum over the same FastAPI apps, built once per execution environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from meeting_shared.logging import configure_logging
from meeting_shared.settings import get_settings

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_handler_for(create_app: Callable[[], FastAPI]) -> LambdaHandler:
    """A handler that builds the app on first use; ``lifespan="off"`` since Mangum would run it
    on every invocation."""
    adapter: Mangum | None = None

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal adapter
        if adapter is None:
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
