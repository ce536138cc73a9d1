"""One error hierarchy for the whole system.

Every error carries a stable machine-readable ``code`` and whether retrying may help. Adapters
translate driver exceptions into these at their boundary; the HTTP layer maps them once to RFC 9457
problem details and the signaling layer to error frames with the same codes.
"""

from __future__ import annotations

from typing import Any


class MeetingError(Exception):
    """Base of every error the system reports to a caller."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"
    retryable: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.extra: dict[str, Any] = extra or {}


class InvalidInput(MeetingError):
    status = 422
    code = "validation_failed"
    title = "Invalid input"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None) -> None:
        extra = {"errors": [{"field": field, "message": detail}]} if field else None
        super().__init__(detail, code=code, extra=extra)


class Unauthenticated(MeetingError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(MeetingError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(MeetingError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(MeetingError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(MeetingError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(MeetingError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RateLimited(MeetingError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"
    retryable = True

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        super().__init__(detail or "Too many requests; try again later")
        self.retry_after = max(1, int(retry_after + 0.999))


class NotServed(MeetingError):
    """A capability the system defines but no installed component provides."""

    status = 501
    code = "not_served"
    title = "Not served"


class Unavailable(MeetingError):
    """A backing service (database, state store, blob store, ...) cannot be reached."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
    retryable = True

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
