"""Every HTTP route of the app (OpenAPI and dashboard), classified for the security sweeps, and
how to call it with valid parameters.

Fail safe: a route missing from :data:`RULES` is taken to be a patient-data route for signed-in
users, so it must refuse anonymous callers, refuse another therapist's patient and write the
audit log. A route with a parameter, body or form this module cannot fill makes the sweeps fail
until it is taught here (:data:`QUERY`, :data:`BODIES`, :data:`FORMS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from dorsi.server.audit_http import AUDIT_EXTRA

Access = Literal["public", "user", "admin"]


@dataclass(frozen=True)
class Rule:
    """Who may call a route, and whether it shows or changes patient data (then audited)."""

    access: Access
    patient_data: bool
    why: str = ""


DEFAULT_RULE = Rule("user", True, "anything not listed is treated as patient data")
RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): Rule("public", False, "liveness probe"),
    ("GET", "/metrics"): Rule("public", False, "Prometheus counters, no patient data"),
    ("POST", "/api/v1/auth/login"): Rule("public", False, "log in"),
    ("GET", "/openapi.json"): Rule("public", False, "API description"),
    ("GET", "/docs"): Rule("public", False, "API docs page"),
    ("GET", "/docs/oauth2-redirect"): Rule("public", False, "API docs page"),
    ("GET", "/redoc"): Rule("public", False, "API docs page"),
    ("GET", "/"): Rule("public", False, "redirect to the dashboard"),
    ("GET", "/dashboard/login"): Rule("public", False, "log-in form"),
    ("POST", "/dashboard/login"): Rule("public", False, "log-in form"),
    ("GET", "/home/{patient_id}"): Rule("public", True, "capability link: its key is the login"),
    ("POST", "/api/v1/auth/logout"): Rule("user", False, "log out"),
    ("POST", "/dashboard/logout"): Rule("user", False, "log out"),
    ("GET", "/api/v1/audit"): Rule("admin", False, "who saw what; no clinical data"),
    ("POST", "/api/v1/patients"): Rule("admin", True, "register a patient"),
}
STATIC_PREFIX = "/static/dorsi"
STATIC_FILE = "/static/dorsi/dashboard.css"

OMIT = None
"""A parameter the sweeps leave out (optional, and not needed to reach the data)."""
_ids = count(1)


@dataclass(frozen=True)
class Call:
    """One request: method, URL with query, and a JSON body or form fields."""

    method: str
    url: str
    json: Any = None
    form: dict[str, str] | None = None


QUERY: dict[str, Any] = {
    "metric": "cadence_spm",
    "start": {"date": "2026-03-01", "date-time": "2026-03-01T00:00:00Z"},
    "end": {"date": "2026-03-31", "date-time": "2026-04-01T00:00:00Z"},
    "a_start": "2026-03-02",
    "a_end": "2026-03-08",
    "b_start": "2026-03-09",
    "b_end": "2026-03-15",
    "period": "day",
    "side": OMIT,
    "limit": "10",
    "cursor": OMIT,
    "range": "1m",
    "error": OMIT,
    "key": "home-key",  # filled with the patient's home-link key
    "patient": "patient-id",  # filled with the patient id under test
    "user": OMIT,
    "since": OMIT,
    "until": OMIT,
    "before": OMIT,
}
BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "InterventionCreate": lambda: {"kind": "brace change", "day": "2026-03-10", "note": "sweep"},
    "PatientCreate": lambda: {
        "id": f"p-sweep-{next(_ids)}",
        "display_name": "Sweep Example",
        "affected_side": "left",
        "therapists": [],
    },
    "LoginCreate": lambda: {"username": "nobody", "password": "not the password"},
}
FORMS: dict[str, dict[str, str]] = {
    "/dashboard/patients/{patient_id}/interventions": {
        "kind": "brace change",
        "day": "2026-03-10",
        "note": "sweep",
    },
    "/dashboard/logout": {},
    "/dashboard/login": {"username": "nobody", "password": "not the password"},
}


class UnknownRouteError(AssertionError):
    """A route the sweeps cannot call: teach this module its parameters."""


@dataclass(frozen=True)
class Operation:
    """One method of one route, with its OpenAPI operation (also for dashboard routes)."""

    method: str
    path: str
    in_schema: bool
    spec: Mapping[str, Any]

    @property
    def rule(self) -> Rule:
        return RULES.get((self.method, self.path), DEFAULT_RULE)

    @property
    def api(self) -> bool:
        """JSON API (401 for anonymous) rather than a page (redirect to the log-in form)."""
        return self.path.startswith("/api/")

    @property
    def audit_action(self) -> str | None:
        return self.spec.get(AUDIT_EXTRA)

    def parameters(self) -> list[dict[str, Any]]:
        return list(self.spec.get("parameters", []))

    @property
    def patient_param(self) -> str | None:
        """Where the patient id goes: ``path``, ``query`` or None."""
        for p in self.parameters():
            if p["name"] == "patient_id" and p["in"] == "path":
                return "path"
            if p["name"] == "patient" and p["in"] == "query":
                return "query"
        return None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _schema_format(schema: Mapping[str, Any]) -> str | None:
    if "format" in schema:
        return str(schema["format"])
    for option in schema.get("anyOf", []):
        if "format" in option:
            return str(option["format"])
    return None


def operations(app: FastAPI) -> list[Operation]:
    """Every method of every route (HEAD excluded), with OpenAPI operations for all of them."""
    public = app.openapi()["paths"]
    contexts = list(iter_route_contexts(app.routes))
    hidden_paths = get_openapi(title="hidden", version="0", routes=_with_extras(contexts))["paths"]
    found = []
    for ctx in contexts:
        if isinstance(ctx.original_route, Mount):
            continue
        for method in sorted((ctx.methods or set()) - {"HEAD"}):
            route = ctx.original_route
            in_schema = isinstance(route, APIRoute) and route.include_in_schema
            spec = (public if in_schema else hidden_paths).get(ctx.path, {}).get(method.lower())
            found.append(Operation(method, str(ctx.path), in_schema, spec or {}))
    return found


def _with_extras(contexts: list[Any]) -> list[APIRoute]:
    """Dashboard routes copied into the schema (with their ``openapi_extra``)."""
    return [
        APIRoute(
            ctx.path,
            ctx.original_route.endpoint,
            methods=sorted(ctx.methods or ()),
            openapi_extra=ctx.original_route.openapi_extra,
        )
        for ctx in contexts
        if isinstance(ctx.original_route, APIRoute) and not ctx.original_route.include_in_schema
    ]


def mounts(app: FastAPI) -> list[str]:
    """Paths of mounted sub-apps (static files)."""
    return [
        str(ctx.path) for ctx in iter_route_contexts(app.routes) if isinstance(ctx.route, Mount)
    ]


def call_for(
    op: Operation,
    patient_id: str,
    *,
    home_key: Callable[[str], str] = lambda _: "",
    csrf: str | None = None,
) -> Call:
    """A valid request of ``op`` about ``patient_id``.

    Raises:
        UnknownRouteError: a parameter, body or form that :data:`QUERY`, :data:`BODIES` or
            :data:`FORMS` do not know.
    """
    path = op.path
    query: dict[str, str] = {}
    for p in op.parameters():
        name, where = p["name"], p["in"]
        if where == "path":
            if name != "patient_id":
                raise UnknownRouteError(f"{op}: teach routes_catalog the path parameter {name!r}")
            path = path.replace("{patient_id}", patient_id)
            continue
        if where != "query":
            raise UnknownRouteError(f"{op}: teach routes_catalog the {where} parameter {name!r}")
        if name not in QUERY:
            raise UnknownRouteError(f"{op}: teach routes_catalog the query parameter {name!r}")
        value = QUERY[name]
        if isinstance(value, dict):
            fmt = _schema_format(p.get("schema", {}))
            if fmt not in value:
                raise UnknownRouteError(f"{op}: no {name!r} value for format {fmt!r}")
            value = value[fmt]
        if value == "home-key":
            value = home_key(patient_id)
        elif value == "patient-id":
            value = patient_id
        if value is not OMIT:
            query[name] = str(value)
    url = path + (f"?{urlencode(query)}" if query else "")
    body = op.spec.get("requestBody")
    if body is not None:
        ref = body["content"].get("application/json", {}).get("schema", {}).get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name not in BODIES:
            raise UnknownRouteError(f"{op}: teach routes_catalog a {name or body!r} body")
        return Call(op.method, url, json=BODIES[name]())
    if op.method in ("POST", "PUT", "PATCH", "DELETE") and not op.in_schema:
        if op.path not in FORMS:
            raise UnknownRouteError(f"{op}: teach routes_catalog its form fields")
        form = dict(FORMS[op.path])
        if csrf is not None:
            form["csrf_token"] = csrf
        return Call(op.method, url, form=form)
    return Call(op.method, url)
