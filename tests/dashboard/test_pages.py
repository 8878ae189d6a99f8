"""Dashboard pages over real HTTP against the seeded clinic: login with CSRF, cookie flags,
patient list and alerts, the 24-month patient page, authorisation (404), the home view."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dorsi.server.web.session import home_key
from tests.dashboard.conftest import PASSWORD, Clinic


def login(clinic: Clinic, username: str) -> httpx.Client:
    client = httpx.Client(base_url=clinic.url, timeout=30)
    page = client.get("/dashboard/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    reply = client.post(
        "/dashboard/login",
        data={"csrf_token": csrf.group(1), "username": username, "password": PASSWORD},
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == "/dashboard/"
    return client


def test_login_sets_httponly_strict_cookie(clinic: Clinic) -> None:
    client = httpx.Client(base_url=clinic.url)
    page = client.get("/dashboard/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    reply = client.post(
        "/dashboard/login",
        data={"csrf_token": csrf.group(1), "username": "alice", "password": PASSWORD},
    )
    cookie = reply.headers["set-cookie"].lower()
    assert "dorsi_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_login_without_csrf_is_refused(clinic: Clinic) -> None:
    client = httpx.Client(base_url=clinic.url)
    client.get("/dashboard/login")
    reply = client.post(
        "/dashboard/login", data={"csrf_token": "forged", "username": "alice", "password": PASSWORD}
    )
    assert reply.status_code == 403
    assert "dorsi_session" not in reply.headers.get("set-cookie", "")


def test_wrong_password_goes_back_to_login(clinic: Clinic) -> None:
    client = httpx.Client(base_url=clinic.url)
    csrf = re.search(r'value="([^"]+)"', client.get("/dashboard/login").text)
    assert csrf is not None
    reply = client.post(
        "/dashboard/login",
        data={"csrf_token": csrf.group(1), "username": "alice", "password": "wrong password"},
    )
    assert reply.status_code == 303
    assert "error" in reply.headers["location"]


def test_pages_need_login(clinic: Clinic) -> None:
    for path in ("/dashboard/", "/dashboard/patients/p-ann", "/dashboard/patients/p-ann/fhir.json"):
        reply = httpx.get(clinic.url + path)
        assert reply.status_code == 303
        assert reply.headers["location"] == "/dashboard/login"


def test_patient_list_shows_own_patients_and_alerts(clinic: Clinic) -> None:
    page = login(clinic, "alice").get("/dashboard/").text
    assert "Ann Example" in page
    assert "Carl Example" in page
    assert "Ben Example" not in page
    assert "p-ben" not in page
    carl = page[page.index('data-patient="p-carl"') :].split("</tr>")[0]
    assert "Foot slap up from" in carl
    assert "Sensor battery low (12 %)" in carl
    ann = page[page.index('data-patient="p-ann"') :].split("</tr>")[0]
    assert "badge" not in ann
    assert "76 %" in ann


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/patients/p-ben",
        "/dashboard/patients/p-ben/report.pdf",
        "/dashboard/patients/p-ben/fhir.json",
        "/dashboard/patients/p-nobody",
    ],
)
def test_other_therapists_patient_is_404(clinic: Clinic, path: str) -> None:
    assert login(clinic, "alice").get(path).status_code == 404
    assert login(clinic, "bob").get("/dashboard/patients/p-ben").status_code == 200


def test_patient_page_24_months_from_rollups(clinic: Clinic) -> None:
    client = login(clinic, "alice")
    client.get("/dashboard/patients/p-ann?range=24m")  # warm-up (template compile)
    started = time.perf_counter()
    reply = client.get("/dashboard/patients/p-ann?range=24m")
    wall_s = time.perf_counter() - started
    server_ms = float(reply.headers["server-timing"].split("dur=")[1])
    print(f"patient page, 24 months: server {server_ms:.0f} ms, request {1000 * wall_s:.0f} ms")
    assert server_ms < 1000
    data = json.loads(re.search(r'id="chart-data">(.*?)</script>', reply.text, re.S).group(1))  # type: ignore[union-attr]
    assert len(data["x"]) == 730
    by_key = {c["key"]: c for c in data["charts"]}
    assert sum(v is not None for v in by_key["strides"]["mean"]) >= 720
    slap = [v for v in by_key["slap_pct"]["mean"] if v is not None]
    assert sum(slap[:30]) / 30 > sum(slap[-30:]) / 30 + 20  # recovery: slap % falls
    assert [e["label"] for e in data["events"]] == ["surgery", "brace change"]
    assert len(data["milestones"]) == 2
    assert "trend, not a diagnosis" in reply.text
    compare = reply.text[reply.text.index('id="compare"') :]
    row = compare[compare.index('data-metric="slap_pct"') :].split("</tr>")[0]
    assert "better" in row


def test_range_switch_changes_the_series(clinic: Clinic) -> None:
    client = login(clinic, "alice")
    lengths = {}
    for key, days in (("2w", 14), ("3m", 91), ("12m", 365)):
        text = client.get(f"/dashboard/patients/p-ann?range={key}").text
        data = json.loads(re.search(r'id="chart-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
        lengths[key] = len(data["x"])
        assert lengths[key] == days
    assert lengths["2w"] < lengths["3m"] < lengths["12m"]


def test_logout_needs_the_session_csrf(clinic: Clinic) -> None:
    client = login(clinic, "alice")
    assert client.post("/dashboard/logout", data={"csrf_token": "forged"}).status_code == 403
    page = client.get("/dashboard/").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    assert client.post("/dashboard/logout", data={"csrf_token": csrf.group(1)}).status_code == 303
    assert client.get("/dashboard/").status_code == 303  # session gone


def test_home_view_needs_its_key(clinic: Clinic) -> None:
    settings = clinic.app.state.settings
    assert httpx.get(f"{clinic.url}/home/p-ann?key=nope").status_code == 404
    page = httpx.get(f"{clinic.url}/home/p-ann?key={home_key(settings, 'p-ann')}").text
    steps = re.search(r'id="steps-today">([\d,]+)<', page)
    assert steps is not None
    assert int(steps.group(1).replace(",", "")) > 0
    assert "Connected" in page
    assert "76 %" in page
    for jargon in ("slap", "drag", "dorsiflexion", "cadence"):
        assert jargon not in page.lower()


def test_add_intervention_needs_csrf_and_shows_on_the_page(clinic: Clinic) -> None:
    client = login(clinic, "alice")
    page = client.get("/dashboard/patients/p-carl").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    day = str(datetime.now(UTC).date() - timedelta(days=10))
    form = {"kind": "physiotherapy", "day": day, "note": "gait training <b>2x</b>/week"}
    forged = client.post(
        "/dashboard/patients/p-carl/interventions", data={**form, "csrf_token": "x"}
    )
    assert forged.status_code == 403
    other = client.post(
        "/dashboard/patients/p-ben/interventions", data={**form, "csrf_token": csrf.group(1)}
    )
    assert other.status_code == 404
    reply = client.post(
        "/dashboard/patients/p-carl/interventions", data={**form, "csrf_token": csrf.group(1)}
    )
    assert reply.status_code == 303
    page = client.get("/dashboard/patients/p-carl?range=24m").text
    events = page[page.index('id="events"') :].split("</ul>")[0]
    assert f"<strong>{day}</strong> physiotherapy" in events
    assert "gait training &lt;b&gt;2x&lt;/b&gt;/week" in events  # escaped
    assert [e.kind for e in clinic.registry.interventions("p-ben")] == []
