"""``/api/v1/auth``: log in (bearer token) and out."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from dorsi.server.api_models import LoginCreate, TokenPublic
from dorsi.server.deps import BearerDep, CurrentUser, RegistryDep, SettingsDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login")
def login(body: LoginCreate, registry: RegistryDep, settings: SettingsDep) -> TokenPublic:
    """Exchange username and password for a bearer token."""
    user = registry.authenticate(body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    return TokenPublic(access_token=registry.open_session(user, hours=settings.session_hours))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(user: CurrentUser, registry: RegistryDep, credentials: BearerDep) -> None:
    """End the current session."""
    if credentials is not None:
        registry.close_session(credentials.credentials)
