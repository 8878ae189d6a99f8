"""FastAPI dependencies as `Annotated` aliases: the store, the registry, who is asking, and the
patient they ask about (checked and written to the audit log)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dorsi.server.audit_http import mark
from dorsi.server.metrics import Metrics
from dorsi.server.ratelimit import LoginThrottle
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


def get_throttle(request: Request) -> LoginThrottle:
    """The log-in throttle shared by the API and the dashboard."""
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


def client_ip(request: Request) -> str:
    """The client's address (the proxy's X-Forwarded-For when uvicorn trusts the proxy)."""
    return request.client.host if request.client else "unknown"


StoreDep = Annotated[Store, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]
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
    request: Request,
    registry: RegistryDep,
    user: CurrentUser,
    patient_id: Annotated[str, Path(description="pseudonymous patient id")],
) -> Patient:
    """The patient if ``user`` may see them (display name only for their own therapists); 404
    otherwise (existence is not revealed).

    Either way the request is marked for the audit log with the route's declared action.
    """
    patient = registry.patient(patient_id)
    if patient is None or not registry.can_see(user, patient_id):
        mark(request, user.username, user.role, [patient_id], denied=True)
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no patient {patient_id!r} for you")
    mark(request, user.username, user.role, [patient.id])
    return registry.shown_to(user, patient)


VisiblePatient = Annotated[Patient, Depends(visible_patient)]
