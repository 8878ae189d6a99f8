"""The web dashboard: therapist pages, the patient home view and their static assets."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the page routes and ``/static/dorsi`` (vendored uPlot, css, js) to ``app``."""
    from dorsi.server.web.pages import PatientNotFoundError, not_found_page, router

    app.include_router(router)
    app.add_exception_handler(PatientNotFoundError, not_found_page)
    app.mount("/static/dorsi", StaticFiles(directory=STATIC_DIR), name="dorsi-static")
