"""Browser sessions: an HttpOnly, SameSite=Strict cookie carrying the registry's bearer token,
and CSRF tokens for the state-changing forms.

Before login a random CSRF value is set as its own cookie and echoed in the form (double submit);
after login the form token is HMAC-SHA-256(secret_key, session token), so it dies with the session.
Without a ``secret_key`` (development only) a random key made at start is used, so CSRF tokens
and home links cannot be forged but change when the server restarts. Cookies are ``Secure`` over
https and whenever ``security.cookies_secure`` is set (behind a TLS proxy).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qs

from fastapi import Request, Response

from dorsi.server.registry import Registry, User
from dorsi.server.settings import Settings

_EPHEMERAL_KEY = secrets.token_bytes(32)
SESSION_COOKIE = "dorsi_session"
CSRF_COOKIE = "dorsi_csrf"
CSRF_FIELD = "csrf_token"


def _key(settings: Settings) -> bytes:
    return settings.secret_key.encode() if settings.secret_key else _EPHEMERAL_KEY


def session_token(request: Request) -> str | None:
    """The bearer token in the session cookie, if any."""
    return request.cookies.get(SESSION_COOKIE)


def web_user(request: Request) -> User | None:
    """The logged-in user of the browser, or None (no cookie, expired or unknown token)."""
    token = session_token(request)
    registry: Registry = request.app.state.registry
    return registry.user_for_token(token) if token else None


def session_csrf(settings: Settings, token: str) -> str:
    """The CSRF form token bound to a session token."""
    return hmac.new(_key(settings), b"csrf:" + token.encode(), hashlib.sha256).hexdigest()


def login_csrf(request: Request) -> str:
    """The pre-login CSRF value: the cookie's if present, else a new random one."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def cookie_secure(request: Request) -> bool:
    """True when cookies must be ``Secure``: https, or ``security.cookies_secure``."""
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or settings.security.cookies_secure


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """An HttpOnly, SameSite=Strict cookie for the whole site; see :func:`cookie_secure`."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
    )


def delete_cookie(request: Request, response: Response, name: str) -> None:
    """Expire a cookie set by :func:`set_cookie` (same flags)."""
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=cookie_secure(request)
    )


async def form_fields(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of each field)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; False if either is missing."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())  # str: ASCII only


def home_key(settings: Settings, patient_id: str) -> str:
    """The capability key of a patient's read-only home view link."""
    digest = hmac.new(_key(settings), b"home:" + patient_id.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
