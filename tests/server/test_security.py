"""Credentials at rest, cookie flags, CSRF on every state-changing form, protective headers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from http.cookies import Morsel, SimpleCookie
from pathlib import Path

import httpx
import pytest
from argon2 import Type, extract_parameters
from fastapi.testclient import TestClient

from dorsi.server.registry import Registry
from dorsi.server.settings import SecuritySettings, Settings
from dorsi.server.web.session import CSRF_COOKIE, SESSION_COOKIE
from tests.server.clinic import (
    ALICE_PATIENT,
    CSRF_INPUT,
    PASSWORD,
    SECRET,
    Clinic,
    make_clinic,
    page_csrf,
    web_login,
)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    made = make_clinic(tmp_path)
    yield made
    made.close()


def database_bytes(path: Path) -> bytes:
    """The registry file and its write-ahead log, as stored on disk."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_passwords_and_tokens_are_stored_only_as_digests(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    registry = Registry(path, token_pepper=SECRET)  # the production hasher
    try:
        secret_password = "Very-Secret-Password-4711"
        user = registry.create_user("carol", secret_password)
        token = registry.open_session(user)
        [(stored,)] = registry._db.execute("SELECT password_hash FROM users").fetchall()
        parameters = extract_parameters(stored)
        assert parameters.type is Type.ID
        assert parameters.memory_cost >= 19 * 1024  # KiB: at least OWASP's argon2id minimum
        assert parameters.time_cost >= 2
        assert registry.authenticate("carol", stored) is None  # the hash is not a password
        assert registry.authenticate("carol", secret_password) == user
        on_disk = database_bytes(path)
        assert secret_password.encode() not in on_disk
        assert token.encode() not in on_disk
        assert registry.user_for_token(token) == user
    finally:
        registry.close()


def test_the_api_login_leaves_no_plaintext_on_disk(clinic: Clinic) -> None:
    reply = clinic.client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    token = reply.json()["access_token"]
    on_disk = database_bytes(Path(clinic.registry.path))
    assert PASSWORD.encode() not in on_disk
    assert token.encode() not in on_disk


def set_cookie(reply: httpx.Response, name: str) -> Morsel[str]:
    """The ``Set-Cookie`` of ``name`` in ``reply``."""
    for header in reply.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            return jar[name]
    raise AssertionError(f"no Set-Cookie for {name}")


def cookie_flags(reply: httpx.Response, name: str) -> dict[str, str | bool]:
    morsel = set_cookie(reply, name)
    return {k: morsel[k] for k in ("httponly", "samesite", "secure", "path")}


@pytest.mark.parametrize(
    ("base_url", "cookies_secure", "secure"),
    [
        ("http://testserver", False, ""),
        ("http://testserver", True, True),
        ("https://testserver", False, True),
    ],
)
def test_cookies_are_httponly_samesite_and_secure_when_configured(
    tmp_path: Path, base_url: str, cookies_secure: bool, secure: str | bool
) -> None:
    settings = Settings(secret_key=SECRET, security=SecuritySettings(cookies_secure=cookies_secure))
    clinic = make_clinic(tmp_path, settings)
    try:
        # Cookies are sent by hand: a real browser behind a TLS proxy sends Secure cookies
        # (it speaks https), the test client on http would not.
        browser = TestClient(clinic.app, base_url=base_url, follow_redirects=False)
        form = browser.get("/dashboard/login")
        expected = {"httponly": True, "samesite": "strict", "secure": secure, "path": "/"}
        assert cookie_flags(form, CSRF_COOKIE) == expected
        csrf = CSRF_INPUT.search(form.text)
        assert csrf is not None
        browser.cookies.clear()
        reply = browser.post(
            "/dashboard/login",
            data={"csrf_token": csrf.group(1), "username": "alice", "password": PASSWORD},
            headers={"Cookie": f"{CSRF_COOKIE}={csrf.group(1)}"},
        )
        assert reply.status_code == 303
        assert cookie_flags(reply, SESSION_COOKIE) == expected
        session = {"Cookie": f"{SESSION_COOKIE}={set_cookie(reply, SESSION_COOKIE).value}"}
        browser.cookies.clear()
        page = browser.get("/dashboard/", headers=session)
        token = CSRF_INPUT.search(page.text)
        assert token is not None
        out = browser.post(
            "/dashboard/logout", data={"csrf_token": token.group(1)}, headers=session
        )
        assert out.status_code == 303
        assert cookie_flags(out, SESSION_COOKIE) == expected
    finally:
        clinic.close()


def test_the_session_cookie_does_not_open_the_api(clinic: Clinic) -> None:
    """The API takes only the bearer header, so a cross-site form cannot use the cookie."""
    browser = clinic.browser("alice")
    assert browser.get("/dashboard/").status_code == 200
    assert browser.get("/api/v1/patients").status_code == 401
    reply = browser.post(
        f"/api/v1/patients/{ALICE_PATIENT}/interventions",
        json={"kind": "surgery", "day": "2026-01-01"},
    )
    assert reply.status_code == 401


def test_login_form_needs_its_csrf_value(clinic: Clinic) -> None:
    browser = clinic.browser()
    browser.get("/dashboard/login")
    for fields in (
        {},
        {"csrf_token": ""},
        {"csrf_token": "forged"},
        {"csrf_token": "fälschung"},  # non-ASCII once made the comparison raise (500)
    ):
        reply = browser.post(
            "/dashboard/login", data={**fields, "username": "alice", "password": PASSWORD}
        )
        assert reply.status_code == 403, fields
        assert SESSION_COOKIE not in reply.headers.get("set-cookie", "")
    assert web_login(browser, "alice", PASSWORD).status_code == 303  # with the form's value


def test_logout_and_intervention_forms_need_the_session_token(clinic: Clinic) -> None:
    alice, bob = clinic.browser("alice"), clinic.browser("bob")
    bobs_token = page_csrf(bob)
    before = clinic.registry.interventions(ALICE_PATIENT)
    form = {"kind": "surgery", "day": "2026-01-10", "note": "forged"}
    for token in (None, "", "forged", "fälschung", bobs_token):
        data = form if token is None else {**form, "csrf_token": token}
        reply = alice.post(f"/dashboard/patients/{ALICE_PATIENT}/interventions", data=data)
        assert reply.status_code == 403, token
        out = alice.post("/dashboard/logout", data={} if token is None else {"csrf_token": token})
        assert out.status_code == 403, token
    assert clinic.registry.interventions(ALICE_PATIENT) == before
    assert alice.get("/dashboard/").status_code == 200  # still logged in
    good = alice.post(
        f"/dashboard/patients/{ALICE_PATIENT}/interventions",
        data={**form, "csrf_token": page_csrf(alice)},
    )
    assert good.status_code == 303
    assert len(clinic.registry.interventions(ALICE_PATIENT)) == len(before) + 1


def test_protective_headers(clinic: Clinic) -> None:
    headers = clinic.bearer("alice")
    for reply in (
        clinic.client.get(f"/api/v1/patients/{ALICE_PATIENT}", headers=headers),
        clinic.browser("alice").get(f"/dashboard/patients/{ALICE_PATIENT}"),
        clinic.client.get("/dashboard/login"),
    ):
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["cache-control"] == "no-store"
    static = clinic.client.get("/static/dorsi/dashboard.css")
    assert "no-store" not in static.headers.get("cache-control", "")
    assert static.headers["x-content-type-options"] == "nosniff"


def test_without_a_secret_key_links_and_form_tokens_cannot_be_forged(tmp_path: Path) -> None:
    clinic = make_clinic(tmp_path, Settings())  # development: no secret_key
    try:
        forged_home = hmac.new(b"", b"home:" + ALICE_PATIENT.encode(), hashlib.sha256)
        reply = clinic.client.get(f"/home/{ALICE_PATIENT}?key={forged_home.hexdigest()[:32]}")
        assert reply.status_code == 404
        alice = clinic.browser("alice")
        token = alice.cookies[SESSION_COOKIE]
        forged_csrf = hmac.new(b"", b"csrf:" + token.encode(), hashlib.sha256).hexdigest()
        out = alice.post("/dashboard/logout", data={"csrf_token": forged_csrf})
        assert out.status_code == 403
    finally:
        clinic.close()


def test_refused_requests_change_nothing(clinic: Clinic) -> None:
    """Found by the sweep and the fuzzer: a patient was stored before an unknown therapist was
    refused, and a blank intervention kind answered 500."""
    admin, alice = clinic.bearer("admin"), clinic.bearer("alice")
    body = {"id": "p-new", "display_name": "New", "affected_side": "left", "therapists": []}
    for therapists in (["nobody"], ["admin"], ["alice", "nobody"]):
        reply = clinic.client.post(
            "/api/v1/patients", json={**body, "therapists": therapists}, headers=admin
        )
        assert reply.status_code == 422, therapists
        assert "not a therapist" in reply.json()["detail"]
        assert clinic.registry.patient("p-new") is None
    created = clinic.client.post(
        "/api/v1/patients", json={**body, "therapists": ["alice"]}, headers=admin
    )
    assert created.status_code == 201
    assert created.json()["display_name"] is None  # the admin is not her therapist
    again = clinic.client.post("/api/v1/patients", json=body, headers=admin)
    assert again.status_code == 409
    blank = clinic.client.post(
        f"/api/v1/patients/{ALICE_PATIENT}/interventions",
        json={"kind": "   ", "day": "2026-03-01"},
        headers=alice,
    )
    assert blank.status_code == 422
    assert "kind" in blank.json()["detail"]
    assert clinic.registry.interventions(ALICE_PATIENT) == []
