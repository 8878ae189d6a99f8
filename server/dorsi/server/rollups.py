"""Daily rollups per patient and side, kept current incrementally off the ingest path.

Ingest hands every stride and activity minute it has *written* to a :class:`RollupMaintainer`,
which only queues them: the commit path never waits for rollups. :meth:`RollupMaintainer.refresh`
(the ingest worker runs one every ``rollup_interval_s`` on a thread of its own) folds the queue
into an in-memory copy of each touched (patient, UTC day) and rewrites those days' rollups:

* A day is read from the store once, when first touched (again after eviction or a failed
  refresh), with :meth:`Store.stride_metrics` (only the rollup inputs), then kept by stride
  identity (device, side, ``ic_t``), so a redelivered stride replaces itself exactly as it does
  in the store and nothing double-counts. A refresh late in the day costs O(day) arithmetic in
  numpy and O(new strides) store work, not a re-read of the day.
* Days already held are refreshed first; ``refresh(read_budget_s)`` then reads days until that
  much time went into reading (at least one per refresh) and leaves the rest for later, so the
  reads after a restart late in the day are spread out instead of starving ingest.
* ``exclusive=False`` (other processes write the same patients, e.g. shared subscriptions): the
  copy is not authoritative, so each refresh re-reads the touched days from the store, and once
  more on the next refresh, so the last rollup written follows the last stride written.
* A held day is read again after ``max_hold_s`` (an hour, ± 25 % so reads spread out), which
  bounds how long strides written by another process (``dorsi-server import``) go unseen.
* At most ``max_cached_strides`` strides are held (≈ 130 bytes each); the least recently touched
  days go first and are re-read if touched again. A queue past ``max_queued`` records is
  replaced by the list of its days, to be re-read.
* A refresh that fails (store down) loses nothing: its days are re-read next time.

Percentiles use linear interpolation between order statistics (numpy's default); slap % and
drag % are the share of the day's strides flagged ``foot_slap``/``toe_drag`` (``None`` with no
strides); wear and walking time (s) sum the day's activity minutes.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from dorsi.server.store import (
    ROLLUP_INPUTS,
    ROLLUP_METRICS,
    ActivityRecord,
    DailyRollup,
    MetricStats,
    Store,
    StrideRecord,
    day_start,
    to_us,
)

US_PER_DAY = 86_400_000_000
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DEFAULT_MAX_CACHED_STRIDES = 1_000_000
DEFAULT_MAX_QUEUED = 500_000
DEFAULT_MAX_HOLD_S = 3600.0

DayKey = tuple[str, date]
"""(patient, UTC day)."""
SeriesKey = tuple[str, str]
"""(device, side): with ``ic_t``, a stride's identity in the store."""


def utc_day(epoch_us: int) -> date:
    """The UTC calendar day of a moment given in µs since the Unix epoch."""
    return date.fromordinal(EPOCH_ORDINAL + epoch_us // US_PER_DAY)


def quantile(sorted_values: Sequence[float] | npt.NDArray[np.float64], q: float) -> float:
    """The ``q`` quantile (0–1) of ascending values by linear interpolation; ValueError if empty."""
    if len(sorted_values) == 0:
        raise ValueError("quantile of no values")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction)


@dataclass(frozen=True)
class _Strides:
    """Strides of one series, ascending and unique by initial contact (µs since the epoch)."""

    ic_us: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    """(n, len(ROLLUP_METRICS)); NaN where a metric is None."""
    flags: npt.NDArray[np.bool_]
    """(n, 2): foot_slap, toe_drag."""

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> _Strides:
        """From :class:`StrideMetrics` rows ``[ic µs, *ROLLUP_INPUTS]`` (None: NaN)."""
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 1 + len(ROLLUP_INPUTS))
        ic_us = np.array([row[0] for row in rows], dtype=np.int64)
        metrics = len(ROLLUP_METRICS)
        return cls(ic_us, table[:, 1 : 1 + metrics], table[:, 1 + metrics :] != 0)._latest()

    @classmethod
    def of(cls, strides: Sequence[tuple[int, StrideRecord]]) -> _Strides:
        """From (ic µs, record) pairs in write order (a later duplicate wins)."""
        ic_us = np.fromiter((us for us, _ in strides), dtype=np.int64, count=len(strides))
        values = np.array(
            [[getattr(r.stride, name) for name in ROLLUP_METRICS] for _, r in strides],
            dtype=np.float64,
        ).reshape(len(strides), len(ROLLUP_METRICS))
        flags = np.array(
            [(r.stride.foot_slap, r.stride.toe_drag) for _, r in strides], dtype=np.bool_
        ).reshape(len(strides), 2)
        return cls(ic_us, values, flags)._latest()

    def merged(self, newer: _Strides) -> _Strides:
        """These strides updated by ``newer`` (which wins where both hold a stride)."""
        return _Strides(
            np.concatenate([self.ic_us, newer.ic_us]),
            np.concatenate([self.values, newer.values]),
            np.concatenate([self.flags, newer.flags]),
        )._latest()

    def _latest(self) -> _Strides:
        """Keep the last occurrence of each ``ic_us``, in ascending order."""
        _, first_from_end = np.unique(self.ic_us[::-1], return_index=True)
        keep = self.ic_us.size - 1 - first_from_end
        return _Strides(self.ic_us[keep], self.values[keep], self.flags[keep])

    def __len__(self) -> int:
        return int(self.ic_us.size)


def _rollup(
    patient: str,
    side: str,
    day: date,
    values: npt.NDArray[np.float64],
    flags: npt.NDArray[np.bool_],
    minutes: Sequence[tuple[float, float]],
) -> DailyRollup:
    """One side's rollup from its strides' metric matrix, flags and (worn_s, walking_s) minutes."""
    n = int(values.shape[0])
    ordered = np.sort(values, axis=0)  # NaN (None) sorts last
    counts = np.count_nonzero(~np.isnan(values), axis=0)
    metrics: dict[str, MetricStats] = {}
    for j, name in enumerate(ROLLUP_METRICS):
        count = int(counts[j])
        if count:
            column = ordered[:count, j]
            metrics[name] = MetricStats(
                count=count,
                mean=float(column.mean()),
                p10=quantile(column, 0.1),
                p50=quantile(column, 0.5),
                p90=quantile(column, 0.9),
            )
    return DailyRollup(
        patient=patient,
        side=side,
        day=day,
        strides=n,
        slap_pct=100.0 * int(flags[:, 0].sum()) / n if n else None,
        drag_pct=100.0 * int(flags[:, 1].sum()) / n if n else None,
        worn_s=math.fsum(worn for worn, _ in minutes),
        walking_s=math.fsum(walking for _, walking in minutes),
        metrics=metrics,
    )


def compute_rollup(
    patient: str,
    side: str,
    day: date,
    strides: Sequence[StrideRecord],
    minutes: Sequence[ActivityRecord],
) -> DailyRollup:
    """The rollup of one patient's side for one day from that day's strides and minutes."""
    series = _Strides.of([(i, r) for i, r in enumerate(strides)])
    return _rollup(
        patient,
        side,
        day,
        series.values,
        series.flags,
        [(m.minute.worn_s, m.minute.walking_s) for m in minutes],
    )


@dataclass
class _Day:
    """One patient's strides and activity minutes of one UTC day, by identity."""

    strides: dict[SeriesKey, _Strides] = field(default_factory=dict)
    minutes: dict[tuple[str, str, int], tuple[float, float]] = field(default_factory=dict)
    """(device, side, minute start µs) → (worn_s, walking_s)."""
    stale_at: float = math.inf
    """``time.monotonic()`` after which the day must be read from the store again."""

    @property
    def size(self) -> int:
        """Strides held."""
        return sum(len(s) for s in self.strides.values())

    def add_strides(self, strides: Sequence[tuple[int, StrideRecord]]) -> None:
        """Add (ic µs, record) pairs in write order; a stride already held is replaced."""
        by_series: dict[SeriesKey, list[tuple[int, StrideRecord]]] = defaultdict(list)
        for us, record in strides:
            by_series[(record.device, record.side)].append((us, record))
        for key, pairs in by_series.items():
            newer = _Strides.of(pairs)
            held = self.strides.get(key)
            self.strides[key] = newer if held is None else held.merged(newer)

    def add_minutes(self, minutes: Iterable[ActivityRecord]) -> None:
        """Add activity minutes; a minute already held is replaced."""
        for m in minutes:
            key = (m.device, m.side, to_us(m.minute.t))
            self.minutes[key] = (m.minute.worn_s, m.minute.walking_s)

    def rollups(self, patient: str, day: date) -> list[DailyRollup]:
        """One rollup per side seen (strides or minutes), sides in name order."""
        sides = {side for _, side in self.strides} | {side for _, side, _ in self.minutes}
        out = []
        for side in sorted(sides):
            parts = [s for (_, s_side), s in self.strides.items() if s_side == side]
            values = (
                np.concatenate([p.values for p in parts])
                if parts
                else np.empty((0, len(ROLLUP_METRICS)))
            )
            flags = np.concatenate([p.flags for p in parts]) if parts else np.empty((0, 2), bool)
            minutes = [v for (_, m_side, _), v in self.minutes.items() if m_side == side]
            out.append(_rollup(patient, side, day, values, flags, minutes))
        return out


def read_day(store: Store, patient: str, day: date) -> _Day:
    """Every stride (its rollup inputs) and activity minute of ``patient`` on ``day``."""
    start = day_start(day)
    end = start + timedelta(days=1)
    held = _Day()
    for series in store.stride_metrics(patient, start, end):
        if series.rows:
            held.strides[(series.device, series.side)] = _Strides.from_rows(series.rows)
    held.add_minutes(store.query_activity(patient, start, end))
    return held


class RollupMaintainer:
    """Queues written strides and minutes; :meth:`refresh` brings the touched days' rollups up to
    date from an in-memory copy of those days (see the module docstring).

    ``mark_*`` may be called from any thread; one :meth:`refresh` runs at a time.
    """

    def __init__(
        self,
        store: Store,
        *,
        exclusive: bool = True,
        max_cached_strides: int = DEFAULT_MAX_CACHED_STRIDES,
        max_queued: int = DEFAULT_MAX_QUEUED,
        max_hold_s: float = DEFAULT_MAX_HOLD_S,
        write_batch: int = 1000,
    ) -> None:
        self.store = store
        self.exclusive = exclusive
        self.max_hold_s = max_hold_s
        self.max_cached_strides = max_cached_strides
        self.max_queued = max_queued
        self.write_batch = write_batch
        self._lock = threading.Lock()
        self._queued_strides: list[StrideRecord] = []
        self._queued_minutes: list[ActivityRecord] = []
        self._reread: set[DayKey] = set()
        """Days whose queued records were dropped (or whose refresh failed): read them again."""
        self._refresh_lock = threading.Lock()
        self._days: OrderedDict[DayKey, _Day] = OrderedDict()
        """The held days, least recently touched first."""
        self._cached = 0
        self._settle: set[DayKey] = set()
        self._rechecks: set[DayKey] = set()
        """Days asked for by :meth:`recheck`: read after every other day that needs a read."""
        self.store_reads = 0
        """Days read from the store so far (first touches, evictions, failures, non-exclusive)."""

    def mark_strides(self, records: Sequence[StrideRecord]) -> None:
        """Queue strides that were written to the store."""
        with self._lock:
            self._queued_strides.extend(records)
            self._bound_queue()

    def mark_activity(self, records: Sequence[ActivityRecord]) -> None:
        """Queue activity minutes that were written to the store."""
        with self._lock:
            self._queued_minutes.extend(records)
            self._bound_queue()

    def _bound_queue(self) -> None:
        """Past ``max_queued`` records keep only the days they touched (caller holds the lock)."""
        if len(self._queued_strides) + len(self._queued_minutes) <= self.max_queued:
            return
        self._reread.update((r.patient, utc_day(r.ic_us)) for r in self._queued_strides)
        self._reread.update((m.patient, utc_day(to_us(m.minute.t))) for m in self._queued_minutes)
        self._queued_strides = []
        self._queued_minutes = []

    def recheck(self, days: Iterable[DayKey]) -> None:
        """Read these (patient, day) pairs from the store and rewrite their rollups, after the
        days that ingest touched (e.g. at start-up, for days whose rollups a killed worker
        may have left behind)."""
        days = set(days)
        with self._lock:
            self._reread.update(days)
        with self._refresh_lock:
            self._rechecks.update(days)

    def cancel_rechecks(self) -> None:
        """Drop the rechecks not done yet (a stopping worker: the next start asks again)."""
        with self._refresh_lock:
            with self._lock:
                self._reread -= self._rechecks
            self._rechecks.clear()

    @property
    def pending(self) -> int:
        """Records and days waiting for a refresh (0: every rollup is current)."""
        with self._lock:
            queued = len(self._queued_strides) + len(self._queued_minutes) + len(self._reread)
        return queued + len(self._settle)

    @property
    def cached_strides(self) -> int:
        """Strides held in memory."""
        return self._cached

    def refresh(self, read_budget_s: float | None = None) -> int:
        """Fold the queue into the held days and rewrite their rollups; returns days rewritten.

        Held days go first. ``read_budget_s``: once this much time went into days that had to
        be read from the store, the remaining such days wait for a later refresh (after a
        restart late in the day that spreads the reads out instead of competing with ingest).
        On a store error the days not yet rewritten are marked to be read again, and the error
        propagates; nothing is lost.
        """
        with self._refresh_lock:
            with self._lock:
                strides, self._queued_strides = self._queued_strides, []
                minutes, self._queued_minutes = self._queued_minutes, []
                reread, self._reread = self._reread, set()
            new_strides: dict[DayKey, list[tuple[int, StrideRecord]]] = defaultdict(list)
            for r in strides:
                us = r.ic_us
                new_strides[(r.patient, utc_day(us))].append((us, r))
            new_minutes: dict[DayKey, list[ActivityRecord]] = defaultdict(list)
            for m in minutes:
                new_minutes[(m.patient, utc_day(to_us(m.minute.t)))].append(m)
            touched = set(new_strides) | set(new_minutes) | reread
            now = time.monotonic()
            to_read = {k for k in touched | self._settle if self._must_read(k, k in reread, now)}
            todo = sorted((touched | self._settle) - to_read)
            # waited longest first, start-up rechecks last
            todo += sorted(to_read, key=lambda k: (k in self._rechecks, k not in reread, k))
            settle = set() if self.exclusive else touched
            done: list[DayKey] = []
            deferred: set[DayKey] = set()
            try:
                pending: list[DailyRollup] = []
                pending_days: list[DayKey] = []
                read_s, reads = 0.0, 0
                for key in todo:
                    over_budget = read_budget_s is not None and read_s >= read_budget_s
                    if key in to_read and reads and over_budget:  # ≥ 1 read per refresh
                        deferred.add(key)
                        continue
                    began = time.monotonic()
                    pending.extend(self._updated(key, new_strides, new_minutes, key in to_read))
                    if key in to_read:
                        read_s += time.monotonic() - began
                        reads += 1
                    pending_days.append(key)
                    self._rechecks.discard(key)
                    if len(pending) >= self.write_batch:
                        self.store.write_rollups(pending)
                        done += pending_days
                        pending, pending_days = [], []
                if pending:
                    self.store.write_rollups(pending)
                done += pending_days
            except BaseException:
                failed = set(todo) - set(done)
                for key in failed:
                    self._forget(key)
                with self._lock:
                    self._reread.update(failed)
                self._settle = settle - failed  # the failed days are read again anyway
                raise
            with self._lock:
                self._reread.update(deferred)
            self._settle = settle - deferred
            return len(done)

    def _must_read(self, key: DayKey, reread: bool, now: float) -> bool:
        """Whether the day has to be read from the store (not held, not trusted or expired)."""
        held = self._days.get(key)
        return held is None or reread or not self.exclusive or now >= held.stale_at

    def _updated(
        self,
        key: DayKey,
        new_strides: dict[DayKey, list[tuple[int, StrideRecord]]],
        new_minutes: dict[DayKey, list[ActivityRecord]],
        read: bool,
    ) -> list[DailyRollup]:
        """The day's rollups after reading it from the store or applying its new records."""
        patient, day = key
        held = self._forget(key)
        if read or held is None:
            held = read_day(self.store, patient, day)
            held.stale_at = time.monotonic() + self.max_hold_s * random.uniform(0.75, 1.0)
            self.store_reads += 1
        else:
            held.add_strides(new_strides.get(key, []))
            held.add_minutes(new_minutes.get(key, []))
        if self.exclusive:
            self._keep(key, held)
        return held.rollups(patient, day)

    def _forget(self, key: DayKey) -> _Day | None:
        held = self._days.pop(key, None)
        if held is not None:
            self._cached -= held.size
        return held

    def _keep(self, key: DayKey, held: _Day) -> None:
        """Hold ``held`` as the most recently touched day; evict the least recent past the cap."""
        self._days[key] = held
        self._cached += held.size
        while self._cached > self.max_cached_strides and len(self._days) > 1:
            _, oldest = self._days.popitem(last=False)
            self._cached -= oldest.size
