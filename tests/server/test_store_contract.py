"""One contract for every `Store`: run against a real influxd and a real SQLite file."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from dorsi.server import influx_store
from dorsi.server.influx_store import InfluxConfig, InfluxStore
from dorsi.server.rollups import RollupMaintainer
from dorsi.server.schema import ActivityMinute, Stride
from dorsi.server.sqlite_store import SQLiteStore
from dorsi.server.store import (
    ROLLUP_INPUTS,
    ROLLUP_METRICS,
    ActivityRecord,
    BatteryRecord,
    StatusRecord,
    Store,
    StoreUnavailable,
    StrideRecord,
    to_us,
)
from dorsi.server.synthetic import synthetic_strides
from tests.conftest import free_port
from tests.server.conftest import InfluxServer

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FAR_PAST = datetime(2001, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2030, 1, 1, tzinfo=UTC)


def records(
    n: int,
    *,
    patient: str = "p-1",
    device: str = "dorsi-aa01",
    side: str = "left",
    start: datetime = START,
    seed: int = 0,
    gateway: str = "gw-1",
) -> list[StrideRecord]:
    return [
        StrideRecord(patient, device, side, gateway, "dorsi-signal 0.1.0", Stride.model_validate(s))
        for s in synthetic_strides(n, start=start, seed=seed)
    ]


def all_strides(store: Store, patient: str, limit: int = 1000) -> list[StrideRecord]:
    out: list[StrideRecord] = []
    cursor: str | None = None
    while True:
        page = store.query_strides(patient, FAR_PAST, FAR_FUTURE, limit=limit, cursor=cursor)
        out.extend(page.records)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


@pytest.fixture(params=["sqlite", "influx"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store, bootstrapped and empty."""
    made: Store
    if request.param == "sqlite":
        made = SQLiteStore(tmp_path / "dorsi.sqlite")
    else:
        influxd: InfluxServer = request.getfixturevalue("influxd")
        database: str = request.getfixturevalue("influx_db")
        made = InfluxStore(
            InfluxConfig(
                url=influxd.url,
                database=database,
                username=influxd.username,
                password=influxd.password,
                batch_size=1000,
            )
        )
    made.bootstrap()
    made.bootstrap()  # idempotent
    yield made
    made.close()


pytestmark = pytest.mark.services


def test_empty(store: Store) -> None:
    assert store.ping()
    page = store.query_strides("p-1", FAR_PAST, FAR_FUTURE)
    assert page.records == []
    assert page.next_cursor is None
    assert store.last_stride_t("p-1") is None
    assert store.latest_battery("p-1") is None
    assert store.query_rollups("p-1", date(2026, 1, 1), date(2026, 12, 31)) == []
    assert store.query_activity("p-1", FAR_PAST, FAR_FUTURE) == []


def test_roundtrip_keeps_every_value(store: Store) -> None:
    written = records(30)
    store.write_strides(written)
    read = all_strides(store, "p-1")
    assert [r.stride.model_dump() for r in read] == [r.stride.model_dump() for r in written]
    assert {(r.patient, r.device, r.side, r.gateway, r.algorithm) for r in read} == {
        ("p-1", "dorsi-aa01", "left", "gw-1", "dorsi-signal 0.1.0")
    }
    assert any(r.stride.min_toe_clearance_cm is None for r in records(200)), "nulls exercised"
    assert any(r.stride.stride_length_m is None for r in read), "strides without a trajectory"
    assert store.last_stride_t("p-1") == written[-1].stride.ic_t


def test_nulls_and_awkward_strings_roundtrip(store: Store) -> None:
    """Commas, spaces, quotes, equals, backslashes and newlines survive in string fields."""
    awkward = 'gw, "living room"=1 \\ back\\slash\nnext line'
    written = records(200, gateway=awkward)
    store.write_strides(written)
    read = all_strides(store, "p-1")
    assert {r.gateway for r in read} == {awkward}
    assert [r.stride.min_toe_clearance_cm for r in read] == [
        r.stride.min_toe_clearance_cm for r in written
    ]


def test_redelivery_overwrites_instead_of_duplicating(store: Store) -> None:
    written = records(120)
    store.write_strides(written)
    store.write_strides(written[40:90])  # a redelivered message
    changed = [
        StrideRecord(
            r.patient,
            r.device,
            r.side,
            r.gateway,
            r.algorithm,
            r.stride.model_copy(update={"quality": 0.5}),
        )
        for r in written[:10]
    ]
    store.write_strides(changed)
    read = all_strides(store, "p-1")
    assert len(read) == 120
    assert [r.stride.quality for r in read[:10]] == [0.5] * 10
    assert [r.stride.quality for r in read[10:]] == [r.stride.quality for r in written[10:]]


def test_same_instant_on_two_devices_is_two_strides(store: Store) -> None:
    left = records(5, device="dorsi-aa01", side="left")
    right = records(5, device="dorsi-bb02", side="right")  # identical ic_t values
    store.write_strides(left + right)
    read = all_strides(store, "p-1", limit=1)  # page boundaries fall between ties
    assert len(read) == 10
    assert sorted((to_us(r.stride.ic_t), r.device) for r in read) == sorted(
        (r.ic_us, r.device) for r in left + right
    )


def test_pagination_and_range_bounds(store: Store) -> None:
    written = records(2500)  # more than one write batch
    store.write_strides(written)
    assert [r.ic_us for r in all_strides(store, "p-1", limit=700)] == [r.ic_us for r in written]
    start = written[100].stride.ic_time
    end = written[200].stride.ic_time
    page = store.query_strides("p-1", start, end, limit=1000)
    assert [r.ic_us for r in page.records] == [r.ic_us for r in written[100:200]]
    assert page.next_cursor is None


def test_patients_are_separate(store: Store) -> None:
    store.write_strides(records(10, patient="p-1") + records(7, patient="p-2", seed=3))
    assert len(all_strides(store, "p-1")) == 10
    assert len(all_strides(store, "p-2")) == 7
    assert all_strides(store, "p-3") == []


def test_bad_page_arguments(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.query_strides("p-1", FAR_PAST, FAR_FUTURE, limit=0)
    with pytest.raises(ValueError, match="cursor"):
        store.query_strides("p-1", FAR_PAST, FAR_FUTURE, cursor="garbage")


def test_activity_and_battery(store: Store) -> None:
    minute = {"t": "2026-03-01T08:00:00.000000Z", "state": "walking", "worn_s": 60.0}
    first = ActivityMinute.model_validate(dict(minute, walking_s=30.0, strides=25))
    again = ActivityMinute.model_validate(dict(minute, walking_s=40.0, strides=33))
    later = ActivityMinute.model_validate(
        {
            "t": "2026-03-01T08:01:00.000000Z",
            "state": "worn_still",
            "worn_s": 60.0,
            "walking_s": 0.0,
            "strides": 0,
        }
    )
    store.write_activity([ActivityRecord("p-1", "dorsi-aa01", "left", m) for m in (first, later)])
    store.write_activity([ActivityRecord("p-1", "dorsi-aa01", "left", again)])
    read = store.query_activity("p-1", FAR_PAST, FAR_FUTURE)
    assert [(a.minute.t, a.minute.walking_s, a.minute.strides) for a in read] == [
        ("2026-03-01T08:00:00.000000Z", 40.0, 33),
        ("2026-03-01T08:01:00.000000Z", 0.0, 0),
    ]
    store.write_battery(
        [
            BatteryRecord("p-1", "dorsi-aa01", "2026-03-01T08:00:00.000000Z", 90.0),
            BatteryRecord("p-1", "dorsi-aa01", "2026-03-01T09:00:00.000000Z", 87.0),
        ]
    )
    latest = store.latest_battery("p-1")
    assert latest is not None
    assert (latest.t, latest.battery_pct) == ("2026-03-01T09:00:00.000000Z", 87.0)


def test_latest_status_per_device(store: Store) -> None:
    assert store.latest_status("p-1") == []
    older = StatusRecord(
        "p-1",
        "dorsi-aa01",
        "2026-03-01T08:00:00.000000Z",
        "online",
        side="left",
        gateway="gw 1",
        link="connected",
        battery_pct=90.0,
        firmware="1.2.0",
        last_stride_t="2026-03-01T07:59:00.000000Z",
        outbox_backlog=3,
    )
    newer = StatusRecord("p-1", "dorsi-aa01", "2026-03-01T09:00:00.000000Z", "offline")
    other = StatusRecord(
        "p-1", "dorsi-bb02", "2026-03-01T08:30:00.000000Z", "online", link="searching"
    )
    store.write_status([older, newer, other, older])  # redelivery of `older` overwrites
    assert store.latest_status("p-1") == [newer, other]
    assert store.latest_status("p-2") == []
    store.write_status([StatusRecord("p-2", "d", "2026-03-01T09:00:00.000000Z", "online")])
    assert [r.patient for r in store.latest_status("p-2")] == ["p-2"]


def test_daily_rollups_match_the_raw_strides(store: Store) -> None:
    """Rollups recomputed incrementally equal statistics computed here from what was written."""
    day1 = records(700, start=START, seed=1)
    day2 = records(300, start=START + timedelta(days=1), seed=2)
    maintainer = RollupMaintainer(store)
    store.write_strides(day1[:400])
    maintainer.mark_strides(day1[:400])
    assert maintainer.refresh() == 1
    store.write_strides(day1[300:] + day2)  # overlaps: redelivery must not double-count
    maintainer.mark_strides(day1[300:] + day2)
    minute = ActivityMinute.model_validate(
        {
            "t": "2026-03-01T08:00:00.000000Z",
            "state": "walking",
            "worn_s": 60.0,
            "walking_s": 45.0,
            "strides": 40,
        }
    )
    store.write_activity([ActivityRecord("p-1", "dorsi-aa01", "left", minute)])
    maintainer.mark_activity([ActivityRecord("p-1", "dorsi-aa01", "left", minute)])
    assert maintainer.refresh() == 2
    assert maintainer.pending == 0

    rollups = store.query_rollups("p-1", date(2026, 3, 1), date(2026, 3, 2))
    assert [(r.day, r.side, r.strides) for r in rollups] == [
        (date(2026, 3, 1), "left", 700),
        (date(2026, 3, 2), "left", 300),
    ]
    first = rollups[0]
    assert first.worn_s == 60.0
    assert first.walking_s == 45.0
    assert first.slap_pct == pytest.approx(100 * np.mean([r.stride.foot_slap for r in day1]))
    assert first.drag_pct == pytest.approx(100 * np.mean([r.stride.toe_drag for r in day1]))
    for name in ROLLUP_METRICS:
        values = [v for r in day1 if (v := getattr(r.stride, name)) is not None]
        stats = first.metrics[name]
        assert stats.count == len(values)
        assert stats.mean == pytest.approx(np.mean(values))
        assert [stats.p10, stats.p50, stats.p90] == pytest.approx(
            np.percentile(values, [10, 50, 90])
        )
    assert rollups[1].worn_s == 0.0
    only = store.query_rollups("p-1", date(2026, 3, 1), date(2026, 3, 2), metrics=["quality"])
    assert [set(r.metrics) for r in only] == [{"quality"}, {"quality"}]
    assert only[0].metrics["quality"] == first.metrics["quality"]
    assert [
        r.strides
        for r in store.query_rollups("p-1", date(2026, 3, 1), date(2026, 3, 1), metrics=[])
    ] == [700]
    with pytest.raises(ValueError, match="not rolled-up"):
        store.query_rollups("p-1", date(2026, 3, 1), date(2026, 3, 2), metrics=["shoe_size"])


def test_stride_metrics_are_the_rollup_inputs_per_series(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean read gives, per (device, side), every stride's rollup inputs in time order,
    across pages (a page of 7 here) and with nulls kept as None."""
    monkeypatch.setattr(influx_store, "MAX_PAGE", 7)
    left = records(30, start=START, seed=3)
    right = records(12, device="dorsi-bb02", side="right", start=START, seed=4)
    other_patient = records(5, patient="p-2", start=START, seed=5)
    store.write_strides(left + right + other_patient)
    got = store.stride_metrics("p-1", START, START + timedelta(days=1))
    assert [(m.device, m.side) for m in got] == [("dorsi-aa01", "left"), ("dorsi-bb02", "right")]
    for series, written in zip(got, (left, right), strict=True):
        assert series.rows == [
            [r.ic_us, *(getattr(r.stride, name) for name in ROLLUP_INPUTS)] for r in written
        ]
    assert any(row[1 + ROLLUP_INPUTS.index("stride_length_m")] is None for row in got[0].rows)
    assert store.stride_metrics("p-1", START + timedelta(days=1), START + timedelta(days=2)) == []


def test_patients_with_strides_in_a_time_range(store: Store) -> None:
    store.write_strides(records(3, patient="p-b", start=START))
    store.write_strides(records(3, patient="p-a", start=START + timedelta(days=2)))
    store.write_strides(records(3, patient="p-c", start=START - timedelta(days=5)))
    assert store.patients_with_strides(START, START + timedelta(days=3)) == ["p-a", "p-b"]
    assert store.patients_with_strides(START + timedelta(days=1), START + timedelta(days=2)) == []


def test_sqlite_locked_raises_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    store = SQLiteStore(path, busy_timeout_s=0.2)
    store.bootstrap()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.write_strides(records(3))
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.write_strides(records(3))
    assert len(all_strides(store, "p-1")) == 3
    store.close()


def test_influx_down_raises_store_unavailable_within_bound() -> None:
    store = InfluxStore(InfluxConfig(url=f"http://127.0.0.1:{free_port()}", retry_for_s=1.0))
    assert not store.ping()
    began = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"unavailable for 1\.0 s"):
        store.write_strides(records(3))
    assert 0.5 < time.monotonic() - began < 3.0
    store.close()
