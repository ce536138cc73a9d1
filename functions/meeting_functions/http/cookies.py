"""Browser sessions: HttpOnly SameSite cookies for the tokens and a readable CSRF cookie."""

from __future__ import annotations

from fastapi import Response

from meeting_functions.http.deps import ACCESS_COOKIE, REFRESH_COOKIE
from meeting_functions.http.middleware import CSRF_COOKIE
from meeting_shared.services.accounts import IssuedSession
from meeting_shared.settings import Settings

REFRESH_COOKIE_PATH = "/api/v1/auth"


def set_session_cookies(
    response: Response, issued: IssuedSession, csrf_token: str, settings: Settings
) -> None:
    secure = settings.cookies_secure
    response.set_cookie(
        ACCESS_COOKIE,
        issued.access_token,
        max_age=settings.access_token_ttl_seconds,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=settings.refresh_token_ttl_seconds,
        httponly=True,
        secure=secure,
        samesite="strict",
        path=REFRESH_COOKIE_PATH,
    )
    set_csrf_cookie(response, csrf_token, settings)


def set_csrf_cookie(response: Response, csrf_token: str, settings: Settings) -> None:
    # Readable by the page's script on purpose: it echoes the value in X-CSRF-Token.
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=settings.refresh_token_ttl_seconds,
        httponly=False,
        secure=settings.cookies_secure,
        samesite="strict",
        path="/",
    )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", secure=settings.cookies_secure, httponly=True)
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=settings.cookies_secure, httponly=True
    )
