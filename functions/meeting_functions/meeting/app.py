"""The meeting function as its own app (and Lambda handler handler)."""

from __future__ import annotations

from fastapi import FastAPI

from meeting_functions.http.app import create_function_app
from meeting_functions.http.lambda_handler import lambda_handler_for
from meeting_functions.meeting.routes import ROUTERS
from meeting_shared.container import Container
from meeting_shared.settings import Settings


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    return create_function_app(
        title="meeting-system meeting function",
        routers=ROUTERS,
        settings=settings,
        container=container,
        source="meeting",
    )


handler = lambda_handler_for(create_app)
