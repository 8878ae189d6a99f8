"""Incremental daily rollups: equal to statistics of what the store holds, whatever the order of
writes, redeliveries, refreshes, evictions, queue overflows and store failures."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dorsi.server.rollups import RollupMaintainer, utc_day
from dorsi.server.schema import ActivityMinute, Stride
from dorsi.server.sqlite_store import SQLiteStore
from dorsi.server.store import (
    ROLLUP_METRICS,
    ActivityRecord,
    DailyRollup,
    Store,
    StoreUnavailable,
    StrideRecord,
)
from dorsi.server.synthetic import synthetic_strides

START = datetime(2026, 3, 1, 23, 59, 35, tzinfo=UTC)  # the strides run past midnight
SERIES = [("p-1", "dorsi-a1", "left"), ("p-1", "dorsi-a2", "right"), ("p-2", "dorsi-b1", "left")]


def pool(per_series: int = 40) -> list[StrideRecord]:
    """Strides of three series (two patients), each series crossing midnight UTC."""
    out = []
    for k, (patient, device, side) in enumerate(SERIES):
        for s in synthetic_strides(per_series, start=START + timedelta(seconds=k), seed=k):
            out.append(StrideRecord(patient, device, side, "gw", "test", Stride.model_validate(s)))
    return out


POOL = pool()


def variant(record: StrideRecord, version: int) -> StrideRecord:
    """The same stride (same identity) with other values: what a re-analysed redelivery holds."""
    if version == 0:
        return record
    stride = record.stride.model_copy(
        update={
            "quality": (version % 10) / 10,
            "foot_slap": version % 2,
            "stride_length_m": None if version % 3 == 0 else 0.5 + version / 100,
        }
    )
    return StrideRecord(
        record.patient, record.device, record.side, record.gateway, record.algorithm, stride
    )


def minute(patient: str, device: str, side: str, hour: int, worn_s: float) -> ActivityRecord:
    t = (START + timedelta(hours=hour)).replace(minute=0, second=0)
    return ActivityRecord(
        patient,
        device,
        side,
        ActivityMinute.model_validate(
            {
                "t": t.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                "state": "walking",
                "worn_s": worn_s,
                "walking_s": worn_s / 2,
                "strides": 10,
            }
        ),
    )


def expected_rollups(
    strides: Sequence[StrideRecord], minutes: Sequence[ActivityRecord]
) -> dict[tuple[str, str, date], dict[str, Any]]:
    """Rollup figures computed here, independently, from the records the store holds."""
    by_key: dict[tuple[str, str, date], list[Stride]] = defaultdict(list)
    for r in strides:
        by_key[(r.patient, r.side, utc_day(r.ic_us))].append(r.stride)
    worn: dict[tuple[str, str, date], float] = defaultdict(float)
    for m in minutes:
        key = (m.patient, m.side, datetime.fromisoformat(m.minute.t).date())
        worn[key] += m.minute.worn_s
        by_key.setdefault(key, [])
    out = {}
    for key, rows in by_key.items():
        metrics = {}
        for name in ROLLUP_METRICS:
            values = [v for s in rows if (v := getattr(s, name)) is not None]
            if values:
                metrics[name] = (len(values), np.mean(values), *np.percentile(values, [10, 50, 90]))
        out[key] = {
            "strides": len(rows),
            "slap_pct": 100 * np.mean([s.foot_slap for s in rows]) if rows else None,
            "worn_s": worn[key],
            "metrics": metrics,
        }
    return out


def stored_rollups(store: Store) -> dict[tuple[str, str, date], dict[str, Any]]:
    out = {}
    for patient in ("p-1", "p-2"):
        for r in store.query_rollups(patient, date(2026, 3, 1), date(2026, 3, 3)):
            out[(r.patient, r.side, r.day)] = {
                "strides": r.strides,
                "slap_pct": r.slap_pct,
                "worn_s": r.worn_s,
                "metrics": {
                    name: (m.count, m.mean, m.p10, m.p50, m.p90) for name, m in r.metrics.items()
                },
            }
    return out


def assert_current(store: Store, strides: dict[Any, StrideRecord], minutes: dict[Any, Any]) -> None:
    got = stored_rollups(store)
    want = expected_rollups(list(strides.values()), list(minutes.values()))
    assert set(got) == set(want)
    for key, figures in want.items():
        assert got[key]["strides"] == figures["strides"], key
        assert got[key]["slap_pct"] == pytest.approx(figures["slap_pct"]), key
        assert got[key]["worn_s"] == pytest.approx(figures["worn_s"]), key
        assert set(got[key]["metrics"]) == set(figures["metrics"]), key
        for name, stats in figures["metrics"].items():
            assert got[key]["metrics"][name] == pytest.approx(stats), (key, name)


OPERATION = st.one_of(
    st.tuples(
        st.just("write"),
        st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=30),
        st.integers(0, 5),
    ),
    st.tuples(st.just("minute"), st.integers(0, len(SERIES) - 1), st.integers(0, 2)),
    st.tuples(st.just("refresh")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operations=st.lists(OPERATION, min_size=1, max_size=12),
    max_cached=st.sampled_from([1, 60, 1_000_000]),
    max_queued=st.sampled_from([5, 1_000_000]),
)
def test_rollups_equal_what_the_store_holds(
    operations: list[tuple[Any, ...]], max_cached: int, max_queued: int
) -> None:
    """Writes (with redeliveries carrying other values), activity minutes and refreshes in any
    order, with a tiny cache or queue: after a refresh the rollups equal the statistics of the
    last-written version of every stride and minute."""
    with tempfile.TemporaryDirectory() as directory:
        store = SQLiteStore(Path(directory) / "rollups.sqlite")
        store.bootstrap()
        keeper = RollupMaintainer(store, max_cached_strides=max_cached, max_queued=max_queued)
        strides: dict[tuple[str, str, int], StrideRecord] = {}
        minutes: dict[tuple[str, str, str], ActivityRecord] = {}
        for op in operations:
            if op[0] == "write":
                batch = [variant(POOL[i], op[2]) for i in op[1]]
                store.write_strides(batch)
                keeper.mark_strides(batch)
                strides.update({(r.device, r.side, r.ic_us): r for r in batch})
            elif op[0] == "minute":
                patient, device, side = SERIES[op[1]]
                record = minute(patient, device, side, op[2], 30.0 + op[2])
                store.write_activity([record])
                keeper.mark_activity([record])
                minutes[(device, side, record.minute.t)] = record
            else:
                keeper.refresh()
        keeper.refresh()
        assert keeper.pending == 0
        assert keeper.cached_strides <= max(max_cached, max(len(POOL) // 3, 1))
        assert_current(store, strides, minutes)
        store.close()


class CountingStore(SQLiteStore):
    """A SQLite store that counts day reads and can fail chosen calls."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.stride_queries = 0
        self.fail_rollup_writes = 0
        self.before_rollup_write: Callable[[], None] | None = None

    def stride_metrics(self, *args: Any, **kwargs: Any) -> Any:
        self.stride_queries += 1
        return super().stride_metrics(*args, **kwargs)

    def write_rollups(self, rollups: Sequence[DailyRollup]) -> None:
        if self.fail_rollup_writes:
            self.fail_rollup_writes -= 1
            raise StoreUnavailable("influxd is restarting")
        if self.before_rollup_write is not None:
            hook, self.before_rollup_write = self.before_rollup_write, None
            hook()
        super().write_rollups(rollups)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    made = CountingStore(tmp_path / "counting.sqlite")
    made.bootstrap()
    return made


def write(store: Store, keeper: RollupMaintainer, records: list[StrideRecord]) -> None:
    store.write_strides(records)
    keeper.mark_strides(records)


def by_identity(records: list[StrideRecord]) -> dict[tuple[str, str, int], StrideRecord]:
    return {(r.device, r.side, r.ic_us): r for r in records}


def test_late_in_the_day_a_refresh_reads_nothing_back(store: CountingStore) -> None:
    """The day is read once, on first touch; later strides are folded in from memory."""
    day = [r for r in POOL if r.patient == "p-2"]
    keeper = RollupMaintainer(store)
    write(store, keeper, day[:10])
    assert keeper.refresh() == 1  # 11 s before midnight
    reads = store.stride_queries
    for lo in range(10, len(day), 10):
        write(store, keeper, day[lo : lo + 10])
        keeper.refresh()
    assert store.stride_queries == reads + 1  # the next day, once
    assert keeper.store_reads == 2
    assert_current(store, by_identity(day), {})


def test_a_failed_refresh_loses_nothing(store: CountingStore) -> None:
    keeper = RollupMaintainer(store)
    write(store, keeper, POOL[:50])
    keeper.refresh()
    store.fail_rollup_writes = 1
    write(store, keeper, POOL[50:])
    with pytest.raises(StoreUnavailable):
        keeper.refresh()
    assert keeper.pending > 0  # the days are due again
    keeper.refresh()
    assert keeper.pending == 0
    assert_current(store, by_identity(POOL), {})


def test_shared_writers_settle_on_the_last_write(store: CountingStore) -> None:
    """Two non-exclusive keepers write the same patient-days. One reads the day, then the other
    writes, refreshes and finishes before the first writes its (now stale) rollups: the first
    keeper's next refresh re-reads the day and puts it right."""
    p1 = [r for r in POOL if r.patient == "p-1" and r.side == "left"]
    a = RollupMaintainer(store, exclusive=False)
    b = RollupMaintainer(store, exclusive=False)
    write(store, a, p1[:20])

    def other_worker_meanwhile() -> None:
        write(store, b, p1[20:])
        b.refresh()

    store.before_rollup_write = other_worker_meanwhile
    a.refresh()
    on_day_one = sum(utc_day(r.ic_us) == START.date() for r in p1)
    assert on_day_one > 20
    stale = store.query_rollups("p-1", START.date(), START.date())
    assert [r.strides for r in stale if r.side == "left"] == [20]  # a wrote after b
    assert a.pending > 0, "a non-exclusive keeper refreshes its days once more"
    a.refresh()
    assert a.pending == 0
    assert_current(store, by_identity(p1), {})
    assert a.cached_strides == 0


def test_a_copy_is_read_again_after_max_hold(store: CountingStore) -> None:
    """Strides another process wrote (an import) are seen once the held copy expires."""
    p2 = [r for r in POOL if r.patient == "p-2"]
    keeper = RollupMaintainer(store, max_hold_s=0.0)
    write(store, keeper, p2[:10])
    keeper.refresh()
    store.write_strides(p2[10:19])  # not marked: written by someone else
    write(store, keeper, p2[19:])  # touches both days again
    keeper.refresh()
    assert keeper.store_reads == 3
    assert_current(store, by_identity(p2), {})


def test_reads_beyond_the_budget_wait_while_held_days_stay_current(store: CountingStore) -> None:
    """After a restart late in the day every patient-day must be read once; with a read budget
    a refresh reads at least one and defers the rest, while held days are refreshed at once."""
    keeper = RollupMaintainer(store)
    first = [r for r in POOL if r.patient == "p-1" and utc_day(r.ic_us) == START.date()]
    write(store, keeper, first[:5])
    keeper.refresh()  # p-1's first day is held from now on
    rest = [r for r in POOL if r not in first[:5]]
    write(store, keeper, rest)
    days = {(r.patient, utc_day(r.ic_us)) for r in rest}
    assert len(days) == 4
    assert keeper.refresh(read_budget_s=0.0) == 2  # the held day, then one read
    assert keeper.pending > 0
    rounds = 1
    while keeper.pending:
        assert keeper.refresh(read_budget_s=0.0) == 1
        rounds += 1
    assert rounds == 3
    assert keeper.store_reads == 4
    assert_current(store, by_identity(POOL), {})


def test_rechecks_wait_for_live_days_and_can_be_cancelled(store: CountingStore) -> None:
    """Start-up rechecks (days a killed worker may have left behind) are read after the days
    ingest touched, within the same budget; a stopping worker drops those not done."""
    p2 = [r for r in POOL if r.patient == "p-2"]
    store.write_strides(p2)  # written by a worker that was killed before its refresh
    keeper = RollupMaintainer(store)
    keeper.recheck([("p-2", START.date()), ("p-2", START.date() + timedelta(days=1))])
    live = [r for r in POOL if r.patient == "p-1" and utc_day(r.ic_us) == START.date()]
    write(store, keeper, live)
    keeper.refresh(read_budget_s=0.0)
    assert [r.patient for r in store.query_rollups("p-2", START.date(), START.date())] == []
    assert len(store.query_rollups("p-1", START.date(), START.date())) == 2  # both sides
    keeper.refresh(read_budget_s=0.0)  # the first recheck
    keeper.cancel_rechecks()
    assert keeper.pending == 0
    keeper.refresh()
    assert keeper.store_reads == 2
    day_one = by_identity([r for r in p2 if utc_day(r.ic_us) == START.date()])
    got = stored_rollups(store)
    assert got[("p-2", "left", START.date())]["strides"] == len(day_one)
    assert ("p-2", "left", START.date() + timedelta(days=1)) not in got
