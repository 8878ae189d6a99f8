"""Page routes: therapist login, patient list, patient page, downloads, and the patient home view.

Pages use the session cookie (see :mod:`dorsi.server.web.session`); a therapist asking for a
patient who is not theirs gets 404, like the API. Log-in is throttled like the API's, and every
page that shows or changes patient data is written to the audit log (:mod:`dorsi.server.audit`).
"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dorsi.server.audit_http import audited, mark
from dorsi.server.deps import client_ip
from dorsi.server.ratelimit import LoginLockedError, LoginThrottle
from dorsi.server.registry import MAX_PASSWORD_CHARS, MAX_USERNAME_CHARS, Patient, Registry, User
from dorsi.server.settings import Settings
from dorsi.server.store import Store
from dorsi.server.trends import EARLIEST_DAY, LATEST_DAY
from dorsi.server.web.analysis import DashboardConfig
from dorsi.server.web.catalog import BY_KEY, METRICS
from dorsi.server.web.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    csrf_ok,
    delete_cookie,
    form_fields,
    home_key,
    login_csrf,
    session_csrf,
    session_token,
    set_cookie,
    web_user,
)
from dorsi.server.web.views import (
    DEFAULT_RANGE,
    RANGE_LABELS,
    RANGES,
    chart_payload,
    latest_strides,
    patient_report,
    patient_summary,
    utc_today,
)

router = APIRouter(include_in_schema=False)
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _fmt(value: float | None, decimals: int = 1, scale: float = 1.0) -> str:
    return "–" if value is None else f"{value * scale:.{decimals}f}"


TEMPLATES.filters["fmt"] = _fmt


def config_of(request: Request) -> DashboardConfig:
    """The clinic's dashboard thresholds (``app.state.dashboard_config``, else defaults)."""
    config = getattr(request.app.state, "dashboard_config", None)
    return config if isinstance(config, DashboardConfig) else DashboardConfig()


def _render(name: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(name).render(**context))


def _state(request: Request) -> tuple[Store, Registry, Settings]:
    state = request.app.state
    return state.store, state.registry, state.settings


def _to_login() -> RedirectResponse:
    return RedirectResponse("/dashboard/login", status.HTTP_303_SEE_OTHER)


class PatientNotFoundError(Exception):
    """A patient the user may not see (shown as a plain 404 page)."""


def _visible(request: Request, user: User, patient_id: str) -> Patient:
    """The patient if ``user`` may see them, display name only for their own therapists
    (marked for the audit log either way)."""
    registry: Registry = request.app.state.registry
    patient = registry.patient(patient_id)
    if patient is None or not registry.can_see(user, patient_id):
        mark(request, user.username, user.role, [patient_id], denied=True)
        raise PatientNotFoundError(patient_id)
    mark(request, user.username, user.role, [patient.id])
    return registry.shown_to(user, patient)


def not_found_page(request: Request, exc: Exception) -> HTMLResponse:
    """404 page: the patient does not exist or is not assigned to this therapist."""
    user = web_user(request)
    extra = _common(request, user) if user else {"user": None}
    response = _render("notfound.html", patient_id=str(exc), **extra)
    response.status_code = status.HTTP_404_NOT_FOUND
    return response


def _range_error() -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        f"range must be 1 day–24 months within {EARLIEST_DAY}..{LATEST_DAY}",
    )


def resolve_range(range_key: str | None, end: date | None) -> tuple[str, date, date]:
    """A named range ending ``end`` (default today, UTC) → (key, first, last); 422 outside
    :data:`EARLIEST_DAY`–:data:`LATEST_DAY`."""
    key = range_key if range_key in RANGES else DEFAULT_RANGE
    last = end or utc_today()
    if not EARLIEST_DAY <= last <= LATEST_DAY:
        raise _range_error()
    return key, last - timedelta(days=RANGES[key] - 1), last


def download_range(start: date | None, end: date | None) -> tuple[date, date]:
    """``start``–``end`` of a download (default: the default range ending today); 422 when
    backwards, longer than 24 months or outside :data:`EARLIEST_DAY`–:data:`LATEST_DAY`."""
    last = end or utc_today()
    if not EARLIEST_DAY <= last <= LATEST_DAY:
        raise _range_error()
    first = start or last - timedelta(days=RANGES[DEFAULT_RANGE] - 1)
    if first > last or (last - first).days >= RANGES["24m"]:
        raise _range_error()
    return first, last


@router.get("/")
def root() -> RedirectResponse:
    """The dashboard is the server's home page."""
    return RedirectResponse("/dashboard/", status.HTTP_303_SEE_OTHER)


@router.get("/dashboard/login")
def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    """The login form (with a double-submit CSRF value)."""
    csrf = login_csrf(request)
    response = _render("login.html", csrf=csrf, csrf_field=CSRF_FIELD, error=error, user=None)
    set_cookie(request, response, CSRF_COOKIE, csrf, max_age=3600)
    return response


def _locked_page(request: Request, exc: LoginLockedError) -> HTMLResponse:
    """The login form again, with 429 and ``Retry-After``."""
    csrf = login_csrf(request)
    response = _render(
        "login.html", csrf=csrf, csrf_field=CSRF_FIELD, error=None, message=str(exc), user=None
    )
    response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
    response.headers["Retry-After"] = str(exc.retry_after_s)
    set_cookie(request, response, CSRF_COOKIE, csrf, max_age=3600)
    return response


@router.post("/dashboard/login")
async def login_submit(request: Request) -> Response:
    """Check the CSRF value, the log-in throttle and the password; set the session cookie."""
    _, registry, settings = _state(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    form = await form_fields(request)
    if not csrf_ok(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "form expired: reload the login page")
    username = form.get("username", "")[:MAX_USERNAME_CHARS]
    try:
        attempt = throttle.begin(username, client_ip(request))
    except LoginLockedError as exc:
        return _locked_page(request, exc)
    password = form.get("password", "")[:MAX_PASSWORD_CHARS]
    user = await anyio.to_thread.run_sync(registry.authenticate, username, password)  # argon2
    if user is None:
        return RedirectResponse("/dashboard/login?error=1", status.HTTP_303_SEE_OTHER)
    throttle.succeeded(attempt)
    token = registry.open_session(user, hours=settings.session_hours)
    response = RedirectResponse("/dashboard/", status.HTTP_303_SEE_OTHER)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600))
    delete_cookie(request, response, CSRF_COOKIE)
    return response


@router.post("/dashboard/logout")
async def logout(request: Request) -> Response:
    """End the session (CSRF-checked); without a session, just go to the login page."""
    _, registry, settings = _state(request)
    token = session_token(request)
    if token is None or web_user(request) is None:
        return _to_login()
    form = await form_fields(request)
    if not csrf_ok(session_csrf(settings, token), form.get(CSRF_FIELD)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid form token")
    registry.close_session(token)
    response = _to_login()
    delete_cookie(request, response, SESSION_COOKIE)
    return response


def _common(request: Request, user: User) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    token = session_token(request) or ""
    return {"user": user, "csrf": session_csrf(settings, token), "csrf_field": CSRF_FIELD}


@router.get("/dashboard/", openapi_extra=audited("list"))
def patient_list(request: Request) -> Response:
    """The therapist's patients with status and alert badges."""
    user = web_user(request)
    if user is None:
        return _to_login()
    store, registry, _ = _state(request)
    today = utc_today()
    config = config_of(request)
    patients = [registry.shown_to(user, p) for p in registry.patients_for(user)]
    mark(request, user.username, user.role, [p.id for p in patients])
    rows = [patient_summary(store, p, today, config) for p in patients]
    rows.sort(key=lambda r: (-len(r.alerts), r.patient.id))
    return _render("patients.html", rows=rows, today=today, **_common(request, user))


@router.get("/dashboard/patients/{patient_id}", openapi_extra=audited("view"))
def patient_page(
    request: Request, patient_id: str, range: str | None = None, end: date | None = None
) -> Response:
    """Trend charts, comparison table, trends and latest strides for one patient."""
    started = time.perf_counter()
    user = web_user(request)
    if user is None:
        return _to_login()
    patient = _visible(request, user, patient_id)
    store, registry, settings = _state(request)
    config = config_of(request)
    range_key, first, last = resolve_range(range, end)
    report = patient_report(store, registry, patient, first, last, config)
    summary = patient_summary(store, patient, utc_today(), config)
    payload = chart_payload(report)
    response = _render(
        "patient.html",
        patient=patient,
        report=report,
        summary=summary,
        metrics=METRICS,
        by_key=BY_KEY,
        ranges=RANGE_LABELS,
        range_key=range_key,
        chart_json=json.dumps(payload, separators=(",", ":")).replace("</", "<\\/"),
        strides=latest_strides(store, patient.id),
        home_link=f"/home/{patient.id}?key={home_key(settings, patient.id)}",
        kinds=INTERVENTION_KINDS,
        today=utc_today(),
        **_common(request, user),
    )
    response.headers["Server-Timing"] = f"page;dur={1000 * (time.perf_counter() - started):.1f}"
    return response


INTERVENTION_KINDS = (
    "surgery",
    "nerve transfer",
    "tendon transfer",
    "nerve decompression",
    "brace change",
    "physiotherapy",
    "other",
)


@router.post("/dashboard/patients/{patient_id}/interventions", openapi_extra=audited("edit"))
async def add_intervention(request: Request, patient_id: str) -> Response:
    """Record a dated intervention from the patient page (CSRF-checked)."""
    user = web_user(request)
    if user is None:
        return _to_login()
    patient = _visible(request, user, patient_id)
    _, registry, settings = _state(request)
    form = await form_fields(request)
    if not csrf_ok(session_csrf(settings, session_token(request) or ""), form.get(CSRF_FIELD)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid form token: reload the page")
    kind = form.get("kind", "")
    try:
        day = date.fromisoformat(form.get("day", ""))
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "day must be YYYY-MM-DD"
        ) from None
    if kind not in INTERVENTION_KINDS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown kind {kind!r}")
    registry.add_intervention(patient.id, kind, day, form.get("note", "")[:500])
    return RedirectResponse(f"/dashboard/patients/{patient.id}", status.HTTP_303_SEE_OTHER)


@router.get("/dashboard/patients/{patient_id}/report.pdf", openapi_extra=audited("report"))
def report_download(
    request: Request, patient_id: str, start: date | None = None, end: date | None = None
) -> Response:
    """The PDF progress report (cookie auth; the API twin is under /api/v1)."""
    from dorsi.server.report_pdf import render_report  # matplotlib: import on first use

    user = web_user(request)
    if user is None:
        return _to_login()
    patient = _visible(request, user, patient_id)
    store, registry, _ = _state(request)
    first, last = download_range(start, end)
    report = patient_report(store, registry, patient, first, last, config_of(request))
    return Response(
        render_report(report),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="dorsi-{patient.id}-{last}.pdf"'},
    )


@router.get("/dashboard/patients/{patient_id}/fhir.json", openapi_extra=audited("export"))
def fhir_download(
    request: Request, patient_id: str, start: date | None = None, end: date | None = None
) -> Response:
    """The FHIR R4 Bundle of daily Observations (cookie auth)."""
    from dorsi.server.fhir import observation_bundle

    user = web_user(request)
    if user is None:
        return _to_login()
    patient = _visible(request, user, patient_id)
    store, _, _ = _state(request)
    first, last = download_range(start, end)
    bundle = observation_bundle(patient, store.query_rollups(patient.id, first, last))
    return Response(
        json.dumps(bundle, indent=1),
        media_type="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="dorsi-{patient.id}-{last}.json"'},
    )


HOME_LINK_USER = "home-link"
"""The audit log's user name for views through a patient's home link (role ``patient``)."""


@router.get("/home/{patient_id}", openapi_extra=audited("view"))
def home_view(request: Request, patient_id: str, key: str = "") -> Response:
    """The patient's own simple page, opened with the link their therapist gives them."""
    store, registry, settings = _state(request)
    patient = registry.patient(patient_id)
    if patient is None or not csrf_ok(home_key(settings, patient_id), key):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this link is not valid")
    mark(request, HOME_LINK_USER, "patient", [patient.id])
    today = utc_today()
    summary = patient_summary(store, patient, today, config_of(request))
    first = today - timedelta(days=27)
    rollups = store.query_rollups(patient.id, first, today, metrics=[])
    weeks = []
    for w in range(4):
        a = first + timedelta(days=7 * w)
        b = a + timedelta(days=6)
        weeks.append((a, b, sum(r.strides for r in rollups if a <= r.day <= b)))
    statuses = store.latest_status(patient.id)
    return _render(
        "home.html",
        summary=summary,
        weeks=weeks,
        connected=summary.link == "connected",
        has_status=bool(statuses),
        user=None,
    )
