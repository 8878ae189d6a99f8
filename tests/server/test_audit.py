"""The audit log: every route that shows or changes patient data (found from the OpenAPI document
and the dashboard routes) writes who, what, which patient, when and from where; denied and failed
requests are kept but are not views; the table is append-only; admins read it over the API and
the CLI, therapists cannot; no data leaves when the log cannot be written."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from dorsi.server.audit import ACTIONS, AuditEntry
from dorsi.server.cli import main
from dorsi.server.deps import VisiblePatient
from dorsi.server.web.pages import HOME_LINK_USER
from dorsi.server.web.session import home_key
from tests.server.clinic import (
    ALICE_PATIENT,
    BOB_PATIENT,
    Caller,
    Clinic,
    make_clinic,
    page_csrf,
    send,
)
from tests.server.routes_catalog import Operation, call_for, operations


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    made = make_clinic(tmp_path)
    yield made
    made.close()


def newest_id(clinic: Clinic) -> int:
    entries = clinic.registry.audit.query(limit=1)
    return entries[0].id if entries else 0


def entries_after(clinic: Clinic, first_id: int) -> list[AuditEntry]:
    return [e for e in clinic.registry.audit.query(limit=1000) if e.id > first_id]


def patient_data_ops(clinic: Clinic) -> list[Operation]:
    ops = [op for op in operations(clinic.app) if op.rule.patient_data]
    assert len(ops) >= 15
    return ops


def test_every_patient_data_route_writes_an_audit_entry(clinic: Clinic) -> None:
    bob, admin = Caller(clinic, "bob"), Caller(clinic, "admin")
    anonymous = clinic.browser()
    started = datetime.now(UTC) - timedelta(seconds=1)
    seen_actions = set()
    for op in patient_data_ops(clinic):
        assert op.audit_action in ACTIONS, f"{op}: declare openapi_extra=audited(...)"
        before = newest_id(clinic)
        if op.rule.access == "public":  # the home link: its key is the credential
            call = call_for(op, BOB_PATIENT, home_key=lambda p: home_key(clinic.settings, p))
            reply, username, role = send(anonymous, call), HOME_LINK_USER, "patient"
        else:
            caller, username = (admin, "admin") if op.rule.access == "admin" else (bob, "bob")
            call, reply = caller.call(op, BOB_PATIENT)
            role = "admin" if username == "admin" else "therapist"
        assert reply.status_code < 400, (str(op), reply.text[:300])
        if op.patient_param is not None:
            expected = {BOB_PATIENT}
        elif isinstance(call.json, dict) and "id" in call.json:  # created
            expected = {call.json["id"]}
        else:  # a list of the caller's patients
            expected = {BOB_PATIENT}
        new = entries_after(clinic, before)
        assert {e.patient_id for e in new} == expected, str(op)
        for e in new:
            assert (e.username, e.role, e.action) == (username, role, op.audit_action), str(op)
            assert (e.method, e.path) == (op.method, urlsplit(call.url).path)
            assert (e.status, e.outcome, e.client_ip) == (reply.status_code, "ok", "testclient")
            assert started <= datetime.fromisoformat(e.t) <= datetime.now(UTC)
        seen_actions.add(op.audit_action)
    assert seen_actions == ACTIONS


def test_routes_without_patient_data_write_nothing(clinic: Clinic) -> None:
    alice, admin = Caller(clinic, "alice"), Caller(clinic, "admin")
    before = newest_id(clinic)
    for op in operations(clinic.app):
        if op.rule.patient_data:
            continue
        assert op.audit_action is None, str(op)
        caller = admin if op.rule.access == "admin" else alice
        _, reply = caller.call(op, ALICE_PATIENT)
        assert reply.status_code < 500
    assert entries_after(clinic, before) == []


def test_denied_requests_are_audited_as_denied_not_as_views(clinic: Clinic) -> None:
    alice = Caller(clinic, "alice")
    for op in patient_data_ops(clinic):
        if op.patient_param is None or op.rule.access != "user":
            continue
        before = newest_id(clinic)
        _, reply = alice.call(op, BOB_PATIENT)
        assert reply.status_code == 404
        [entry] = entries_after(clinic, before)
        assert (entry.username, entry.patient_id, entry.action) == (
            "alice",
            BOB_PATIENT,
            op.audit_action,
        )
        assert (entry.outcome, entry.status) == ("denied", 404), str(op)
    assert alice.browser.get("/dashboard/patients/p-nobody").status_code == 404
    [entry] = clinic.registry.audit.query(limit=1)
    assert (entry.patient_id, entry.outcome) == ("p-nobody", "denied")


def test_failed_requests_are_not_views(clinic: Clinic) -> None:
    headers = clinic.bearer("bob")
    reply = clinic.client.get(
        f"/api/v1/patients/{BOB_PATIENT}/trends?metric=cadence_spm&start=2026-03-31&end=2026-03-01",
        headers=headers,
    )
    assert reply.status_code == 422
    [entry] = clinic.registry.audit.query(limit=1)
    assert (entry.outcome, entry.status, entry.action) == ("failed", 422, "view")


def test_the_table_is_append_only(clinic: Clinic) -> None:
    clinic.client.get("/api/v1/patients", headers=clinic.bearer("alice"))
    assert len(clinic.registry.audit.query()) == 1
    db = sqlite3.connect(clinic.registry.path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit_log SET username = 'someone else'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit_log")
    finally:
        db.close()
    assert clinic.registry.audit.query()[0].username == "alice"


def seed_entries(clinic: Clinic) -> None:
    alice, bob = clinic.bearer("alice"), clinic.bearer("bob")
    clinic.client.get(f"/api/v1/patients/{ALICE_PATIENT}", headers=alice)
    clinic.client.get(f"/api/v1/patients/{BOB_PATIENT}", headers=bob)
    clinic.client.get(f"/api/v1/patients/{BOB_PATIENT}", headers=alice)  # denied
    clinic.client.get(f"/api/v1/patients/{BOB_PATIENT}/interventions", headers=bob)


def test_admins_read_the_log_and_therapists_cannot(clinic: Clinic) -> None:
    seed_entries(clinic)
    admin = clinic.bearer("admin")
    assert clinic.client.get("/api/v1/audit").status_code == 401
    refused = clinic.client.get("/api/v1/audit", headers=clinic.bearer("alice"))
    assert refused.status_code == 403
    assert BOB_PATIENT not in refused.text

    page = clinic.client.get("/api/v1/audit", headers=admin).json()
    assert [(e["username"], e["patient_id"], e["outcome"]) for e in page["entries"]] == [
        ("bob", BOB_PATIENT, "ok"),
        ("alice", BOB_PATIENT, "denied"),
        ("bob", BOB_PATIENT, "ok"),
        ("alice", ALICE_PATIENT, "ok"),
    ]
    assert page["next_before"] is None
    by_patient = clinic.client.get(f"/api/v1/audit?patient={BOB_PATIENT}", headers=admin).json()
    assert {e["patient_id"] for e in by_patient["entries"]} == {BOB_PATIENT}
    assert len(by_patient["entries"]) == 3
    by_user = clinic.client.get("/api/v1/audit?user=alice", headers=admin).json()
    assert [e["outcome"] for e in by_user["entries"]] == ["denied", "ok"]

    first = clinic.client.get("/api/v1/audit?limit=3", headers=admin).json()
    assert len(first["entries"]) == 3
    rest = clinic.client.get(
        f"/api/v1/audit?limit=3&before={first['next_before']}", headers=admin
    ).json()
    assert [e["patient_id"] for e in rest["entries"]] == [ALICE_PATIENT]
    assert rest["next_before"] is None

    newest_t = page["entries"][0]["t"]
    since = clinic.client.get("/api/v1/audit", params={"since": newest_t}, headers=admin).json()
    assert [e["t"] for e in since["entries"]] == [newest_t]
    until = clinic.client.get("/api/v1/audit", params={"until": newest_t}, headers=admin).json()
    assert len(until["entries"]) == 3
    future = clinic.client.get("/api/v1/audit?since=2999-01-01T00:00:00Z", headers=admin).json()
    assert future["entries"] == []
    naive = clinic.client.get("/api/v1/audit?since=2026-01-01T00:00:00", headers=admin)
    assert naive.status_code == 422
    assert "UTC" in naive.text
    assert clinic.client.get("/api/v1/audit?limit=0", headers=admin).status_code == 422


def test_cli_prints_the_log(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_entries(clinic)
    monkeypatch.setenv("DORSI_REGISTRY_PATH", str(clinic.registry.path))
    assert main(["audit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = ["time", "(UTC)", "user", "role", "action", "patient", "outcome", "status", "request"]
    assert lines[0].split() == header
    assert lines[-1] == "4 entries"
    rows = lines[2:-1]
    assert [r.split()[2] for r in rows] == ["alice", "bob", "alice", "bob"]  # oldest first
    assert "GET /api/v1/patients/p-bob from testclient" in rows[2]
    assert rows[2].split()[5:8] == [BOB_PATIENT, "denied", "404"]

    assert main(["audit", "--patient", BOB_PATIENT, "--user", "alice"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert "denied" in out[2]
    assert main(["audit", "--limit", "2"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1] == "2 entries (the newest; raise --limit for more)"
    )
    assert main(["audit", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out.strip() == "no audit entries match"
    assert main(["audit", "--until", "2000-01-01T00:00:00Z"]) == 0
    assert capsys.readouterr().out.strip() == "no audit entries match"
    assert main(["audit", "--csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0] == (
        "id,t,username,role,action,patient_id,method,path,status,outcome,client_ip"
    )
    assert len(csv_lines) == 5
    for bad in (["--limit", "0"], ["--since", "yesterday"], ["--since", "2026-01-01T00:00:00"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["audit", *bad])
        assert exit_info.value.code == 2


def test_no_data_leaves_when_the_log_cannot_be_written(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(rows: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(clinic.registry.audit, "append", broken)
    alice = clinic.bearer("alice")
    for url in (
        f"/api/v1/patients/{ALICE_PATIENT}",
        f"/api/v1/patients/{ALICE_PATIENT}/strides.csv"
        "?start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z",
    ):
        reply = clinic.client.get(url, headers=alice)
        assert reply.status_code == 500
        assert reply.json() == {"detail": "audit log unavailable; no data was sent"}
    page = clinic.browser("alice").get(f"/dashboard/patients/{ALICE_PATIENT}")
    assert page.status_code == 500
    assert "Ann Example" not in page.text
    assert clinic.client.get("/healthz").status_code == 200  # no patient data: not affected


def test_a_patient_route_that_declares_no_action_fails_closed(clinic: Clinic) -> None:
    @clinic.app.get("/api/v1/patients/{patient_id}/unaudited")
    def unaudited(patient: VisiblePatient) -> dict[str, str]:
        return {"name": patient.display_name}

    client = TestClient(clinic.app, raise_server_exceptions=False)
    reply = client.get(
        f"/api/v1/patients/{ALICE_PATIENT}/unaudited", headers=clinic.bearer("alice")
    )
    assert reply.status_code == 500
    assert "Ann Example" not in reply.text
    problems = [
        op for op in operations(clinic.app) if op.audit_action is None and op.rule.patient_data
    ]
    assert [str(op) for op in problems] == ["GET /api/v1/patients/{patient_id}/unaudited"]


def test_web_forms_are_audited_as_edits(clinic: Clinic) -> None:
    browser = clinic.browser("alice")
    csrf = page_csrf(browser, f"/dashboard/patients/{ALICE_PATIENT}")
    reply = browser.post(
        f"/dashboard/patients/{ALICE_PATIENT}/interventions",
        data={"csrf_token": csrf, "kind": "surgery", "day": "2026-01-10", "note": ""},
    )
    assert reply.status_code == 303
    [entry] = clinic.registry.audit.query(limit=1)
    assert (entry.action, entry.method, entry.outcome) == ("edit", "POST", "ok")
