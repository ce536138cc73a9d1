"""The OpenAPI document lists every operation's error responses as problem details, and the web
client's Content-Security-Policy follows the settings (the media nodes, the blob store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from meeting_launcher.gateway import create_gateway, web_client_policy
from meeting_shared.settings import Settings

pytestmark = pytest.mark.unit

PROBLEM = {"schema": {"$ref": "#/components/schemas/Problem"}}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    data = tmp_path_factory.mktemp("openapi")
    settings = Settings(_env_file=None, data_dir=data, embedded_ai_node=False)
    return create_gateway(settings)


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_every_operation_documents_its_problem_responses(gateway: FastAPI) -> None:
    document = gateway.openapi()
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    found = operations(document)
    assert len(found) > 60
    assert "503" in found.pop(("GET", "/health"))["responses"]  # its own body, not a problem
    for (method, path), operation in found.items():
        errors = {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}
        assert 503 in errors, (method, path)
        for status, response in errors.items():
            assert response["content"]["application/problem+json"] == PROBLEM, (method, path)
            assert response["description"], (method, path, status)
        signed_in = any("HTTPBearer" in entry for entry in operation.get("security", []))
        assert (401 in errors) == signed_in or path.startswith("/api/v1/auth/"), (method, path)
        if operation.get("parameters") or "requestBody" in operation:
            assert 422 in errors, (method, path)
        if "requestBody" in operation:
            assert {400, 413} <= set(errors), (method, path)
        if "{" in path:
            assert 404 in errors, (method, path)
        if path.startswith("/api/v1/admin/"):
            assert 403 in errors, (method, path)
        for status in (429, 503):
            if status in errors:
                assert "Retry-After" in errors[status]["headers"], (method, path)


def test_services_add_what_they_can_refuse(gateway: FastAPI) -> None:
    found = operations(gateway.openapi())

    def errors(method: str, path: str) -> set[int]:
        return {int(s) for s in found[(method, f"/api/v1{path}")]["responses"] if int(s) >= 400}

    assert {409, 429} <= errors("POST", "/meetings/{meeting_id}/join")  # full; rate limited
    assert 409 in errors("POST", "/meetings/{meeting_id}/recordings")  # already recording
    assert 429 in errors("POST", "/auth/login")
    assert 429 in errors("POST", "/ai/asr")
    assert 401 not in errors("GET", "/csrf-token")
    # A status the route describes itself keeps its words and gets the problem schema.
    room = found[("GET", "/api/v1/meetings/{meeting_id}/room/stats")]["responses"]["404"]
    assert room["description"] == "No such meeting, or its room is not live"
    assert room["content"]["application/problem+json"] == PROBLEM


def test_the_web_client_policy_allows_what_it_talks_to(tmp_path: Path) -> None:
    nodes = (
        '[{"id": "a", "signaling_url": "wss://media-a.example.org:7881/ws/signaling"},'
        ' {"id": "b", "signaling_url": "wss://media-b.example.org/ws/signaling"}]'
    )
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        media_nodes=nodes,
        s3_endpoint="http://seaweedfs:8333",
        s3_public_endpoint="https://files.example.org/",
    )
    directives = dict(part.split(" ", 1) for part in web_client_policy(settings).split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"].split() == [
        "'self'",
        "wss://media-a.example.org:7881",
        "wss://media-b.example.org",
        "https://files.example.org",
    ]
    assert "https://files.example.org" in directives["img-src"].split()
    assert "blob:" in directives["media-src"].split()
    assert "unsafe-inline" not in web_client_policy(settings)
