"""Trend-query latency with millions of strides stored (prints figures, asserts nothing).

Fills each store with ``--patients`` × ``--days`` × ``--per-day`` synthetic strides (default
20 × 731 × 342 ≈ 5.0 M) and their daily rollups, then times the dashboard's 24-month daily trend
for one patient (``query_rollups`` + ``daily_points``), and the same through the HTTP API.
Runs against a real influxd (started here) and SQLite.

Usage: ``.venv/bin/python bench/server_trends.py [--patients 20 --days 731 --per-day 342]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from dorsi.server.app import create_app  # noqa: E402
from dorsi.server.influx_store import InfluxConfig, InfluxStore  # noqa: E402
from dorsi.server.registry import Registry  # noqa: E402
from dorsi.server.rollups import compute_rollup  # noqa: E402
from dorsi.server.schema import Stride  # noqa: E402
from dorsi.server.settings import Settings  # noqa: E402
from dorsi.server.sqlite_store import SQLiteStore  # noqa: E402
from dorsi.server.store import DailyRollup, Store, StrideRecord  # noqa: E402
from dorsi.server.synthetic import iter_strides  # noqa: E402
from dorsi.server.trends import daily_points  # noqa: E402
from tests.server.conftest import InfluxServer  # noqa: E402

FLUSH = 50_000
QUERIES = 200


def fill(store: Store, patients: int, days: int, per_day: int, first: date) -> tuple[int, float]:
    """Write strides and rollups; returns (strides, seconds)."""
    began = time.perf_counter()
    total = 0
    buffer: list[StrideRecord] = []
    rollups: list[DailyRollup] = []
    for p in range(patients):
        patient = f"p-{p:03d}"
        for d in range(days):
            day = first + timedelta(days=d)
            start = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
            records = [
                StrideRecord(
                    patient, f"dev-{p:03d}", "left", "gw", "alg", Stride.model_construct(**s)
                )
                for s in iter_strides(per_day, start=start, seed=p * 10_000 + d)
            ]
            buffer += records
            rollups.append(compute_rollup(patient, "left", day, records, []))
            if len(buffer) >= FLUSH:
                store.write_strides(buffer)
                store.write_rollups(rollups)
                total += len(buffer)
                buffer, rollups = [], []
        print(f"  {patient} stored ({total + len(buffer)} strides)", file=sys.stderr, flush=True)
    store.write_strides(buffer)
    store.write_rollups(rollups)
    return total + len(buffer), time.perf_counter() - began


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_queries(
    store: Store, patients: int, first: date, last: date
) -> tuple[list[float], list[float]]:
    rng = random.Random(0)
    direct = []
    for _ in range(QUERIES):
        patient = f"p-{rng.randrange(patients):03d}"
        began = time.perf_counter()
        points = daily_points(
            store.query_rollups(patient, first, last, metrics=["stride_time_s"]), "stride_time_s"
        )
        direct.append(time.perf_counter() - began)
        assert len(points) == (last - first).days + 1, len(points)
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(
            Path(tmp) / "r.sqlite", hasher=PasswordHasher(time_cost=1, memory_cost=1024)
        )
        registry.create_user("admin", "bench password 1", "admin")
        for p in range(patients):
            registry.add_patient(f"p-{p:03d}", f"Patient {p}", "left", "AFO")
        client = TestClient(create_app(Settings(), store, registry))
        token = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": "bench password 1"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        api = []
        for _ in range(QUERIES):
            patient = f"p-{rng.randrange(patients):03d}"
            url = f"/api/v1/patients/{patient}/trends?metric=stride_time_s&start={first}&end={last}"
            began = time.perf_counter()
            response = client.get(url, headers=headers)
            api.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text
        registry.close()
    return direct, api


def report(name: str, n: int, fill_s: float, direct: list[float], api: list[float]) -> None:
    ms = 1000.0
    print(
        f"{name:7s}: {n} strides stored in {fill_s:.0f} s ({n / fill_s:.0f}/s incl. generation); "
        f"24-month daily trend p50 {statistics.median(direct) * ms:.1f} ms, "
        f"p95 {percentile(direct, 0.95) * ms:.1f} ms; via HTTP API p50 "
        f"{statistics.median(api) * ms:.1f} ms, p95 {percentile(api, 0.95) * ms:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--days", type=int, default=731)
    parser.add_argument("--per-day", type=int, default=342)
    parser.add_argument("--stores", default="sqlite,influx")
    args = parser.parse_args()
    first = date(2024, 1, 1)
    last = first + timedelta(days=args.days - 1)
    for name in args.stores.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-trends-") as tmp:
            influxd = None
            store: Store
            if name == "sqlite":
                store = SQLiteStore(Path(tmp) / "data.sqlite")
            else:
                influxd = InfluxServer(Path(tmp))
                influxd.start()
                influxd.create_admin()
                store = InfluxStore(
                    InfluxConfig(
                        url=influxd.url,
                        database=f"bench_{uuid.uuid4().hex[:6]}",
                        username=influxd.username,
                        password=influxd.password,
                    )
                )
            try:
                store.bootstrap()
                n, fill_s = fill(store, args.patients, args.days, args.per_day, first)
                direct, api = time_queries(store, args.patients, first, last)
                report(name, n, fill_s, direct, api)
            finally:
                store.close()
                if influxd is not None:
                    influxd.kill()


if __name__ == "__main__":
    main()
