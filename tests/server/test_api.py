"""HTTP API against a real registry and real stores: auth, authorisation, trends, strides, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from dorsi.server.app import create_app
from dorsi.server.influx_store import InfluxConfig, InfluxStore
from dorsi.server.registry import Registry
from dorsi.server.rollups import RollupMaintainer
from dorsi.server.schema import Stride
from dorsi.server.settings import Settings
from dorsi.server.sqlite_store import SQLiteStore
from dorsi.server.store import BatteryRecord, StatusRecord, Store, StrideRecord
from dorsi.server.synthetic import synthetic_strides
from tests.server.conftest import InfluxServer

PASSWORD = "correct horse battery"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # real argon2id, cheap
DAY0 = date(2026, 3, 2)  # a Monday


def strides_for(patient: str, day: date, n: int, seed: int) -> list[StrideRecord]:
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    return [
        StrideRecord(patient, f"dev-{patient}", "left", "gw", "alg", Stride.model_validate(s))
        for s in synthetic_strides(n, start=start, seed=seed)
    ]


@pytest.fixture(params=["sqlite", "influx"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "sqlite":
        made = SQLiteStore(tmp_path / "data.sqlite")
    else:
        influxd: InfluxServer = request.getfixturevalue("influxd")
        made = InfluxStore(
            InfluxConfig(
                url=influxd.url,
                database=request.getfixturevalue("influx_db"),
                username=influxd.username,
                password=influxd.password,
            )
        )
    made.bootstrap()
    yield made
    made.close()


@pytest.fixture
def api(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    registry = Registry(tmp_path / "registry.sqlite", hasher=FAST_HASHER)
    registry.create_user("admin", PASSWORD, "admin")
    registry.create_user("alice", PASSWORD)
    registry.create_user("bob", PASSWORD)
    registry.add_patient("p-alice", "Ann Example", "left", "carbon AFO")
    registry.add_patient("p-bob", "Ben Example", "right", "posterior leaf spring")
    registry.assign("alice", "p-alice")
    registry.assign("bob", "p-bob")
    registry.pair_device("dev-p-alice", "p-alice", "left")
    maintainer = RollupMaintainer(store)
    for i in range(14):
        batch = strides_for("p-alice", DAY0 + timedelta(days=i), 50 + 10 * i, seed=i)
        store.write_strides(batch)
        maintainer.mark_strides(batch)
    store.write_strides(strides_for("p-bob", DAY0, 30, seed=99))
    maintainer.mark_strides(strides_for("p-bob", DAY0, 30, seed=99))
    maintainer.refresh()
    store.write_battery([BatteryRecord("p-alice", "dev-p-alice", "2026-03-05T10:00:00Z", 81.0)])
    store.write_status(
        [StatusRecord("p-alice", "dev-p-alice", "2026-03-05T10:00:00.000000Z", "offline")]
    )
    app = create_app(Settings(), store, registry)
    with TestClient(app) as client:
        yield client
    registry.close()


def login(api: TestClient, username: str) -> dict[str, str]:
    response = api.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


pytestmark = pytest.mark.services


def test_login_required_and_wrong_password(api: TestClient) -> None:
    assert api.get("/api/v1/patients").status_code == 401
    bad = api.get("/api/v1/patients", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    wrong = api.post("/api/v1/auth/login", json={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401
    headers = login(api, "alice")
    assert api.get("/api/v1/patients", headers=headers).status_code == 200
    assert api.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert api.get("/api/v1/patients", headers=headers).status_code == 401


def test_therapist_sees_only_assigned_patients(api: TestClient) -> None:
    alice = login(api, "alice")
    listed = api.get("/api/v1/patients", headers=alice).json()
    assert [p["id"] for p in listed] == ["p-alice"]
    assert listed[0]["display_name"] == "Ann Example"
    assert listed[0]["battery_pct"] == 81.0
    assert listed[0]["gateway_state"] == "offline"
    assert listed[0]["status_t"] == "2026-03-05T10:00:00.000000Z"
    assert listed[0]["devices"] == ["dev-p-alice"]
    assert listed[0]["last_data_t"] is not None
    for path in (
        "/api/v1/patients/p-bob",
        "/api/v1/patients/p-bob/interventions",
        "/api/v1/patients/p-bob/trends?metric=stride_time_s&start=2026-03-01&end=2026-03-31",
        "/api/v1/patients/p-bob/strides?start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z",
        "/api/v1/patients/p-bob/strides.csv?start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z",
        "/api/v1/patients/p-nobody",
    ):
        response = api.get(path, headers=alice)
        assert response.status_code == 404, path
        assert "Ben" not in response.text
    post = api.post(
        "/api/v1/patients/p-bob/interventions",
        headers=alice,
        json={"kind": "x", "day": "2026-03-01"},
    )
    assert post.status_code == 404


def test_admin_manages_patients_without_display_names(api: TestClient) -> None:
    admin = login(api, "admin")
    assert {p["id"] for p in api.get("/api/v1/patients", headers=admin).json()} == {
        "p-alice",
        "p-bob",
    }
    assert api.get("/api/v1/patients/p-bob", headers=admin).json()["display_name"] is None
    body = {"id": "p-new", "display_name": "New", "affected_side": "right", "therapists": ["bob"]}
    assert api.post("/api/v1/patients", headers=admin, json=body).status_code == 201
    assert api.post("/api/v1/patients", headers=admin, json=body).status_code == 409
    bob = login(api, "bob")
    assert {p["id"] for p in api.get("/api/v1/patients", headers=bob).json()} == {"p-bob", "p-new"}
    assert api.post("/api/v1/patients", headers=bob, json=dict(body, id="p-x")).status_code == 403


def test_interventions(api: TestClient) -> None:
    alice = login(api, "alice")
    for kind, day in (("brace change", "2026-03-10"), ("surgery", "2025-12-01")):
        response = api.post(
            "/api/v1/patients/p-alice/interventions", headers=alice, json={"kind": kind, "day": day}
        )
        assert response.status_code == 201
    events = api.get("/api/v1/patients/p-alice/interventions", headers=alice).json()
    assert [(e["kind"], e["day"]) for e in events] == [
        ("surgery", "2025-12-01"),
        ("brace change", "2026-03-10"),
    ]
    bad = api.post(
        "/api/v1/patients/p-alice/interventions", headers=alice, json={"kind": "", "day": "x"}
    )
    assert bad.status_code == 422


def test_daily_and_weekly_trends(api: TestClient) -> None:
    alice = login(api, "alice")
    url = "/api/v1/patients/p-alice/trends?metric=stride_time_s&start=2026-03-01&end=2026-03-31"
    daily = api.get(url, headers=alice).json()
    assert [p["strides"] for p in daily] == [50 + 10 * i for i in range(14)]
    first = strides_for("p-alice", DAY0, 50, seed=0)
    assert daily[0]["mean"] == pytest.approx(np.mean([r.stride.stride_time_s for r in first]))
    assert daily[0]["p50"] == pytest.approx(np.median([r.stride.stride_time_s for r in first]))
    weekly = api.get(url + "&period=week", headers=alice).json()
    assert [(p["day"], p["strides"]) for p in weekly] == [
        ("2026-03-02", sum(50 + 10 * i for i in range(7))),
        ("2026-03-09", sum(50 + 10 * i for i in range(7, 14))),
    ]
    assert api.get(url.replace("stride_time_s", "bogus"), headers=alice).status_code == 422
    too_long = "/api/v1/patients/p-alice/trends?metric=quality&start=2024-01-01&end=2026-03-31"
    assert api.get(too_long, headers=alice).status_code == 422
    backwards = "/api/v1/patients/p-alice/trends?metric=quality&start=2026-03-31&end=2026-03-01"
    assert api.get(backwards, headers=alice).status_code == 422


def test_compare_windows(api: TestClient) -> None:
    alice = login(api, "alice")
    response = api.get(
        "/api/v1/patients/p-alice/compare?metric=cadence_spm&a_start=2026-03-02&a_end=2026-03-08"
        "&b_start=2026-03-09&b_end=2026-03-15",
        headers=alice,
    )
    assert response.status_code == 200
    result = response.json()
    a = [
        s
        for i in range(7)
        for s in strides_for("p-alice", DAY0 + timedelta(days=i), 50 + 10 * i, i)
    ]
    assert result["a"]["strides"] == len(a)
    assert result["a"]["mean"] == pytest.approx(np.mean([r.stride.cadence_spm for r in a]))
    assert result["mean_change"] == pytest.approx(result["b"]["mean"] - result["a"]["mean"])


def test_strides_pages_and_csv(api: TestClient) -> None:
    alice = login(api, "alice")
    base = "/api/v1/patients/p-alice/strides?start=2026-03-02T00:00:00Z&end=2026-03-04T00:00:00Z"
    seen: list[str] = []
    url = base + "&limit=45"
    while True:
        page = api.get(url, headers=alice).json()
        seen += [s["ic_t"] for s in page["strides"]]
        if page["next_cursor"] is None:
            break
        url = base + f"&limit=45&cursor={page['next_cursor']}"
    expected = [
        r.stride.ic_t
        for i in range(2)
        for r in strides_for("p-alice", DAY0 + timedelta(days=i), 50 + 10 * i, i)
    ]
    assert seen == expected
    response = api.get(base.replace("/strides?", "/strides.csv?"), headers=alice)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["ic_t"] for r in rows] == expected
    assert float(rows[0]["stride_time_s"]) == pytest.approx(
        strides_for("p-alice", DAY0, 1, 0)[0].stride.stride_time_s
    )
    assert api.get(base + "&cursor=zzz", headers=alice).status_code == 422
    assert api.get(base + "&limit=0", headers=alice).status_code == 422


def test_health_metrics_openapi(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok", "store": "ok"}
    metrics = api.get("/metrics")
    assert "dorsi_strides_ingested_total 0" in metrics.text
    assert "dorsi_write_latency_seconds_bucket" in metrics.text
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/v1/patients", "/api/v1/patients/{patient_id}/trends", "/healthz"} <= set(paths)
