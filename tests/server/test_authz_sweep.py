"""Authorisation sweep over every route of the app: the OpenAPI operations and the dashboard
routes that are not in the schema. New routes are swept automatically (see routes_catalog)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dorsi.server.web.session import SESSION_COOKIE, home_key
from dorsi.server.web.views import PatientReport
from tests.server.clinic import (
    ALICE_PATIENT,
    BOB_PATIENT,
    BOB_SECRETS,
    Caller,
    Clinic,
    make_clinic,
    send,
)
from tests.server.routes_catalog import (
    STATIC_FILE,
    STATIC_PREFIX,
    UnknownRouteError,
    call_for,
    mounts,
    operations,
)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    made = make_clinic(tmp_path)
    yield made
    made.close()


def test_every_route_is_classified_and_callable(clinic: Clinic) -> None:
    ops = operations(clinic.app)
    problems = []
    for op in ops:
        try:
            call_for(op, ALICE_PATIENT, csrf="x")
        except UnknownRouteError as exc:
            problems.append(str(exc))
        if "{patient_id}" in op.path and not op.rule.patient_data:
            problems.append(f"{op} takes a patient id but is not classified as patient data")
        if op.rule.patient_data != (op.audit_action is not None):
            problems.append(f"{op}: patient data must declare openapi_extra=audited(...)")
    assert problems == []
    schema_ops = {
        (method.upper(), path)
        for path, item in clinic.app.openapi()["paths"].items()
        for method in item
    }
    assert schema_ops <= {(op.method, op.path) for op in ops}
    assert {op.path for op in ops if not op.in_schema} >= {"/dashboard/", "/home/{patient_id}"}
    assert mounts(clinic.app) == [STATIC_PREFIX]


@pytest.mark.parametrize("credentials", ["none", "forged"])
def test_anonymous_requests_are_refused(clinic: Clinic, credentials: str) -> None:
    browser = clinic.browser()
    headers = None
    if credentials == "forged":
        browser.cookies.set(SESSION_COOKIE, "forged-session-token")
        headers = {"Authorization": "Bearer forged-session-token"}
    refused = 0
    for op in operations(clinic.app):
        call = call_for(op, ALICE_PATIENT, csrf="forged")
        reply = send(browser, call, headers)
        assert reply.status_code < 500, (str(op), reply.text)
        assert "Ann Example" not in reply.text, str(op)
        if op.rule.access == "public":
            continue
        refused += 1
        if op.api:
            assert reply.status_code == 401, str(op)
            assert reply.headers["www-authenticate"] == "Bearer"
        else:
            assert reply.status_code == 303, str(op)
            assert reply.headers["location"] == "/dashboard/login", str(op)
    assert refused >= 15
    assert clinic.registry.audit.query() == [], "nobody was logged in: nothing to audit"
    assert len(clinic.registry.interventions(ALICE_PATIENT)) == 0


def test_public_routes_show_no_patient_data(clinic: Clinic) -> None:
    for op in operations(clinic.app):
        if op.rule.access != "public":
            continue
        reply = send(clinic.browser(), call_for(op, BOB_PATIENT, csrf="x"))
        for secret in BOB_SECRETS:
            assert secret not in reply.text, str(op)
    static = clinic.browser().get(STATIC_FILE)
    assert static.status_code == 200
    assert clinic.browser().get(f"{STATIC_PREFIX}/../../registry.py").status_code == 404


def test_the_rightful_users_get_the_data(clinic: Clinic) -> None:
    """The sweep's requests are valid: the patient's own therapist (or the admin) gets them."""
    bob, admin = Caller(clinic, "bob"), Caller(clinic, "admin")
    checked = 0
    for op in operations(clinic.app):
        if op.rule.access == "public" or op.patient_param is None:
            continue
        caller = admin if op.rule.access == "admin" else bob
        _, reply = caller.call(op, BOB_PATIENT)
        assert reply.status_code in (200, 201, 303), (str(op), reply.text[:300])
        if reply.status_code == 303:
            assert reply.headers["location"].startswith(f"/dashboard/patients/{BOB_PATIENT}")
        checked += 1
    assert checked >= 13


def test_another_therapists_patient_is_refused_for_every_route(clinic: Clinic) -> None:
    alice = Caller(clinic, "alice")
    events_before = clinic.registry.interventions(BOB_PATIENT)
    checked = []
    for op in operations(clinic.app):
        if op.rule.access == "public" or op.patient_param is None:
            continue
        _, reply = alice.call(op, BOB_PATIENT)
        expected = 403 if op.rule.access == "admin" else 404
        assert reply.status_code == expected, (str(op), reply.status_code, reply.text[:300])
        for secret in BOB_SECRETS:
            assert secret not in reply.text, str(op)
        if op.rule.patient_data:
            checked.append(str(op))
    assert len(checked) >= 12
    assert clinic.registry.interventions(BOB_PATIENT) == events_before
    entries = clinic.registry.audit.query(username="alice", patient_id=BOB_PATIENT)
    assert [e.outcome for e in entries] == ["denied"] * len(checked)
    assert sorted(f"{e.method} {e.path}" for e in entries) == sorted(
        op.replace("{patient_id}", BOB_PATIENT) for op in checked
    )


def test_admin_only_routes_refuse_therapists(clinic: Clinic) -> None:
    alice = Caller(clinic, "alice")
    admin_ops = [op for op in operations(clinic.app) if op.rule.access == "admin"]
    assert {str(op) for op in admin_ops} >= {"GET /api/v1/audit", "POST /api/v1/patients"}
    for op in admin_ops:
        _, reply = alice.call(op, ALICE_PATIENT)
        assert reply.status_code == 403, str(op)
    assert clinic.registry.patient("p-sweep-1") is None
    assert {p.id for p in clinic.registry.patients_for(clinic.registry.user_by_name("admin"))} == {  # type: ignore[arg-type]
        ALICE_PATIENT,
        BOB_PATIENT,
    }


def test_lists_show_only_the_callers_patients(clinic: Clinic) -> None:
    alice = Caller(clinic, "alice")
    for op in operations(clinic.app):
        if not op.rule.patient_data or op.patient_param is not None or op.method != "GET":
            continue
        _, reply = alice.call(op, ALICE_PATIENT)
        assert reply.status_code == 200, str(op)
        assert "Ann Example" in reply.text, str(op)
        assert BOB_PATIENT not in reply.text, str(op)
        for secret in BOB_SECRETS:
            assert secret not in reply.text, str(op)


def test_undeclared_methods_are_refused(clinic: Clinic) -> None:
    alice = Caller(clinic, "alice")
    declared: dict[str, set[str]] = {}
    for op in operations(clinic.app):
        declared.setdefault(op.path, set()).add(op.method)
    for path, methods in declared.items():
        url = path.replace("{patient_id}", BOB_PATIENT)
        for method in set(METHODS) - methods:
            client = clinic.client if path.startswith("/api/") else alice.browser
            reply = client.request(method, url, headers=alice.headers)
            assert reply.status_code == 405, (method, path, reply.status_code)
            for secret in BOB_SECRETS:
                assert secret not in reply.text


def test_home_link_needs_the_patients_own_key(clinic: Clinic) -> None:
    anonymous = clinic.browser()
    alice_key = home_key(clinic.settings, ALICE_PATIENT)
    for url in (
        f"/home/{BOB_PATIENT}",
        f"/home/{BOB_PATIENT}?key={alice_key}",
        f"/home/{BOB_PATIENT}?key={alice_key[:-1]}0",
    ):
        reply = anonymous.get(url)
        assert reply.status_code == 404, url
        for secret in BOB_SECRETS:
            assert secret not in reply.text
    assert anonymous.get(f"/home/{ALICE_PATIENT}?key={alice_key}").status_code == 200


def test_display_names_only_for_the_patients_own_therapists(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin manages every patient but sees only pseudonymous ids, in pages and PDFs too."""
    from dorsi.server import report_pdf

    rendered: list[str] = []
    original = report_pdf.render_report

    def spy(report: PatientReport) -> bytes:
        rendered.append(report.patient.display_name)
        return original(report)

    monkeypatch.setattr(report_pdf, "render_report", spy)
    admin, alice = Caller(clinic, "admin"), Caller(clinic, "alice")
    for op in operations(clinic.app):
        if op.method != "GET" or not op.rule.patient_data or op.rule.access == "public":
            continue
        _, reply = admin.call(op, ALICE_PATIENT)
        assert reply.status_code == 200, str(op)
        assert "Ann Example" not in reply.text, str(op)
    assert rendered == [ALICE_PATIENT, ALICE_PATIENT]  # the API's and the dashboard's PDF
    _, own = alice.call(
        next(op for op in operations(clinic.app) if op.path == "/dashboard/patients/{patient_id}"),
        ALICE_PATIENT,
    )
    assert "Ann Example" in own.text
