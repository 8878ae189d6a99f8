"""FastAPI dependencies as `Annotated` aliases: the store, the registry, who is asking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dorsi.server.metrics import Metrics
from dorsi.server.registry import Patient, Registry, User
from dorsi.server.settings import Settings
from dorsi.server.store import Store

_bearer = HTTPBearer(auto_error=False)


def get_store(request: Request) -> Store:
    """The time-series store the app was built with."""
    store: Store = request.app.state.store
    return store


def get_registry(request: Request) -> Registry:
    """The registry the app was built with."""
    registry: Registry = request.app.state.registry
    return registry


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> Metrics:
    """The ingest metrics shown on /metrics."""
    metrics: Metrics = request.app.state.metrics
    return metrics


StoreDep = Annotated[Store, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def current_user(registry: RegistryDep, credentials: BearerDep) -> User:
    """The user of the bearer token; 401 without a live token."""
    user = registry.user_for_token(credentials.credentials) if credentials else None
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "log in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_admin(user: CurrentUser) -> User:
    """403 unless the user is an admin."""
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin role required")
    return user


CurrentAdmin = Annotated[User, Depends(require_admin)]


def visible_patient(
    registry: RegistryDep,
    user: CurrentUser,
    patient_id: Annotated[str, Path(description="pseudonymous patient id")],
) -> Patient:
    """The patient if ``user`` may see them; 404 otherwise (existence is not revealed)."""
    patient = registry.patient(patient_id)
    if patient is None or not registry.can_see(user, patient_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no patient {patient_id!r} for you")
    return patient


VisiblePatient = Annotated[Patient, Depends(visible_patient)]
