"""The FastAPI application factory: assembles routes around a store, a registry and settings."""

from __future__ import annotations

from fastapi import FastAPI

from dorsi.server import web
from dorsi.server.audit_http import AuditMiddleware
from dorsi.server.headers import SecurityHeadersMiddleware
from dorsi.server.metrics import Metrics
from dorsi.server.ratelimit import LoginThrottle
from dorsi.server.registry import Registry
from dorsi.server.routes import audit, auth, fhir, health, patients, reports, strides, trends
from dorsi.server.settings import Settings
from dorsi.server.store import Store


def create_app(
    settings: Settings, store: Store, registry: Registry, metrics: Metrics | None = None
) -> FastAPI:
    """The dorsi HTTP API (OpenAPI at ``/openapi.json``, docs at ``/docs``) and dashboard."""
    app = FastAPI(
        title="dorsi server",
        version="0.1.0",
        description="Foot-drop recovery monitoring: patients, stride trends, raw strides.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.registry = registry
    app.state.metrics = metrics or Metrics()
    app.state.login_throttle = LoginThrottle(settings.security.login_limits())
    for module in (health, auth, patients, trends, strides, reports, fhir, audit):
        app.include_router(module.router)
    web.install(app)
    app.add_middleware(AuditMiddleware)  # inside: sees the final status of every route
    app.add_middleware(SecurityHeadersMiddleware)
    return app
