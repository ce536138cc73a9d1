"""Checks on RFC 9457 problem responses, shared by the API test modules."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def expect_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert that ``response`` is a problem document with ``status`` and ``code``; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert body["type"] == f"urn:meeting-system:problem:{code}", body
    return body


def error_fields(body: dict[str, Any]) -> list[str]:
    """The ``field`` of each entry in a problem's ``errors`` list."""
    return [str(error["field"]) for error in body.get("errors", [])]
