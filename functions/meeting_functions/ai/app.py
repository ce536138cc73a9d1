"""The ai function as its own app (and Lambda handler)."""

from __future__ import annotations

from fastapi import FastAPI

from meeting_functions.ai.routes import ROUTERS
from meeting_functions.http.app import create_function_app
from meeting_functions.http.lambda_handler import lambda_handler_for
from meeting_shared.container import Container
from meeting_shared.settings import Settings


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    return create_function_app(
        title="meeting-system ai function",
        routers=ROUTERS,
        settings=settings,
        container=container,
        source="ai-function",
    )


handler = lambda_handler_for(create_app)
