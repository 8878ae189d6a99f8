"""The FastAPI application factory: assembles routes around a store, a registry and settings."""

from __future__ import annotations

from fastapi import FastAPI

from dorsi.server import web
from dorsi.server.metrics import Metrics
from dorsi.server.registry import Registry
from dorsi.server.routes import auth, fhir, health, patients, reports, strides, trends
from dorsi.server.settings import Settings
from dorsi.server.store import Store


def create_app(
    settings: Settings, store: Store, registry: Registry, metrics: Metrics | None = None
) -> FastAPI:
    """The dorsi HTTP API (OpenAPI at ``/openapi.json``, docs at ``/docs``)."""
    app = FastAPI(
        title="dorsi server",
        version="0.1.0",
        description="Foot-drop recovery monitoring: patients, stride trends, raw strides.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.registry = registry
    app.state.metrics = metrics or Metrics()
    for module in (health, auth, patients, trends, strides, reports, fhir):
        app.include_router(module.router)
    web.install(app)
    return app
