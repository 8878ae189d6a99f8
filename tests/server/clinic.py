"""A small seeded clinic for the security tests: the real app on the SQLite store (no influxd), a
real registry with real (cheap) argon2id, two therapists, an admin and two patients with data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dorsi.server.app import create_app
from dorsi.server.registry import Registry
from dorsi.server.rollups import RollupMaintainer
from dorsi.server.schema import Stride
from dorsi.server.settings import Settings
from dorsi.server.sqlite_store import SQLiteStore
from dorsi.server.store import StrideRecord
from dorsi.server.synthetic import synthetic_strides
from dorsi.server.web.session import home_key
from tests.server.routes_catalog import Call, Operation, call_for

PASSWORD = "correct horse battery"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # real argon2id, cheap
SECRET = "security-tests-secret-key-0123456789abcdef"
DAY0 = date(2026, 3, 2)
ALICE_PATIENT = "p-alice"
BOB_PATIENT = "p-bob"
BOB_SECRETS = ("Ben Example", "posterior leaf spring", "dev-p-bob")
"""Text that must never reach alice: bob's patient's name, brace and device."""
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def strides_for(patient: str, day: date, n: int, seed: int) -> list[StrideRecord]:
    """``n`` valid synthetic strides of ``patient``'s left foot from 09:00 UTC of ``day``."""
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    return [
        StrideRecord(patient, f"dev-{patient}", "left", "gw", "alg", Stride.model_validate(s))
        for s in synthetic_strides(n, start=start, seed=seed)
    ]


@dataclass
class Clinic:
    """The app, its registry and store, and a test client (follows no redirects)."""

    app: FastAPI
    registry: Registry
    store: SQLiteStore
    settings: Settings
    client: TestClient

    def bearer(self, username: str) -> dict[str, str]:
        """Authorization header of a fresh session (opened in the registry, not throttled)."""
        user = self.registry.user_by_name(username)
        assert user is not None
        return {"Authorization": f"Bearer {self.registry.open_session(user)}"}

    def browser(self, username: str | None = None, *, ip: str = "testclient") -> TestClient:
        """A client with its own cookies; logged in through the form when ``username`` is given."""
        client = TestClient(self.app, follow_redirects=False, client=(ip, 50000))
        if username is not None:
            reply = web_login(client, username, PASSWORD)
            assert reply.status_code == 303, reply.text
            assert reply.headers["location"] == "/dashboard/"
        return client

    def close(self) -> None:
        self.client.close()
        self.store.close()
        self.registry.close()


def web_login(client: TestClient, username: str, password: str) -> httpx.Response:
    """Fetch the login form and submit it with its CSRF value; returns the reply."""
    page = client.get("/dashboard/login")
    found = CSRF_INPUT.search(page.text)
    assert found is not None, page.text
    reply: httpx.Response = client.post(
        "/dashboard/login",
        data={"csrf_token": found.group(1), "username": username, "password": password},
    )
    return reply


def page_csrf(client: TestClient, path: str = "/dashboard/") -> str:
    """The session CSRF token from a logged-in page's forms."""
    found = CSRF_INPUT.search(client.get(path).text)
    assert found is not None
    return found.group(1)


def make_clinic(directory: Path, settings: Settings | None = None) -> Clinic:
    """admin, alice (p-alice: 14 days of strides, a device) and bob (p-bob: one day)."""
    registry = Registry(directory / "registry.sqlite", hasher=FAST_HASHER, token_pepper=SECRET)
    registry.create_user("admin", PASSWORD, "admin")
    registry.create_user("alice", PASSWORD)
    registry.create_user("bob", PASSWORD)
    registry.add_patient(ALICE_PATIENT, "Ann Example", "left", "carbon AFO")
    registry.add_patient(BOB_PATIENT, BOB_SECRETS[0], "right", BOB_SECRETS[1])
    registry.assign("alice", ALICE_PATIENT)
    registry.assign("bob", BOB_PATIENT)
    registry.pair_device(f"dev-{ALICE_PATIENT}", ALICE_PATIENT, "left")
    registry.pair_device(BOB_SECRETS[2], BOB_PATIENT, "right")
    registry.add_intervention(BOB_PATIENT, "surgery", DAY0 - timedelta(days=30), "bob's note")
    store = SQLiteStore(directory / "data.sqlite")
    store.bootstrap()
    maintainer = RollupMaintainer(store)
    for i in range(14):
        batch = strides_for(ALICE_PATIENT, DAY0 + timedelta(days=i), 20 + 5 * i, seed=i)
        store.write_strides(batch)
        maintainer.mark_strides(batch)
    bob = strides_for(BOB_PATIENT, DAY0, 30, seed=99)
    store.write_strides(bob)
    maintainer.mark_strides(bob)
    maintainer.refresh()
    settings = settings or Settings(secret_key=SECRET)
    app = create_app(settings, store, registry)
    client = TestClient(app, follow_redirects=False)
    return Clinic(app, registry, store, settings, client)


def send(client: TestClient, call: Call, headers: dict[str, str] | None = None) -> httpx.Response:
    reply: httpx.Response = client.request(
        call.method, call.url, json=call.json, data=call.form, headers=headers
    )
    return reply


class Caller:
    """One user, with a bearer token for the API and a logged-in browser for the pages."""

    def __init__(self, clinic: Clinic, username: str) -> None:
        self.clinic = clinic
        self.headers = clinic.bearer(username)
        self.browser = clinic.browser(username)
        self.csrf = page_csrf(self.browser)

    def call(self, op: Operation, patient_id: str) -> tuple[Call, httpx.Response]:
        call = call_for(
            op,
            patient_id,
            csrf=self.csrf,
            home_key=lambda p: home_key(self.clinic.settings, p),
        )
        if op.api:
            return call, send(self.clinic.client, call, self.headers)
        return call, send(self.browser, call)
