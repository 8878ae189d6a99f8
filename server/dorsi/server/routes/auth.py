"""``/api/v1/auth``: log in (bearer token, throttled) and out."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from dorsi.server.api_models import LoginCreate, TokenPublic
from dorsi.server.deps import (
    BearerDep,
    CurrentUser,
    RegistryDep,
    SettingsDep,
    ThrottleDep,
    client_ip,
)
from dorsi.server.ratelimit import LoginLockedError

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/login",
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many failed log-ins; see the Retry-After header (seconds)"},
    },
)
def login(
    body: LoginCreate,
    request: Request,
    registry: RegistryDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
) -> TokenPublic:
    """Exchange username and password for a bearer token.

    After too many failed log-ins for the username or from the client address within the
    window (settings ``security.login_*``), answers 429 with ``Retry-After`` without checking
    the password.
    """
    try:
        attempt = throttle.begin(body.username, client_ip(request))
    except LoginLockedError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            str(exc),
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    user = registry.authenticate(body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    throttle.succeeded(attempt)
    return TokenPublic(access_token=registry.open_session(user, hours=settings.session_hours))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(user: CurrentUser, registry: RegistryDep, credentials: BearerDep) -> None:
    """End the current session."""
    if credentials is not None:
        registry.close_session(credentials.credentials)
