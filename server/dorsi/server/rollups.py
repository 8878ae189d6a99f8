"""Daily rollups per patient and side, kept current incrementally.

Ingest marks the (patient, UTC day) pairs it wrote; :meth:`RollupMaintainer.refresh` recomputes
only those days from their raw strides and activity minutes and overwrites their rollups. A
recompute (not an increment) is idempotent, so redelivered strides never double-count, and the
dashboards read trends from rollups without scanning raw strides.

Percentiles use linear interpolation between order statistics (numpy's default); slap % and
drag % are the share of the day's strides flagged ``foot_slap``/``toe_drag`` (``None`` with no
strides); wear and walking time (s) sum the day's activity minutes.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from dorsi.server.schema import parse_utc
from dorsi.server.store import (
    MAX_PAGE,
    ROLLUP_METRICS,
    ActivityRecord,
    DailyRollup,
    MetricStats,
    Store,
    StrideRecord,
    day_start,
)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ascending values by linear interpolation; ValueError if empty."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def metric_stats(values: Iterable[float]) -> MetricStats | None:
    """count/mean/p10/p50/p90 of the values, or None if there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return MetricStats(
        count=len(ordered),
        mean=math.fsum(ordered) / len(ordered),
        p10=quantile(ordered, 0.1),
        p50=quantile(ordered, 0.5),
        p90=quantile(ordered, 0.9),
    )


def compute_rollup(
    patient: str,
    side: str,
    day: date,
    strides: Sequence[StrideRecord],
    minutes: Sequence[ActivityRecord],
) -> DailyRollup:
    """The rollup of one patient's side for one day from that day's strides and minutes."""
    metrics: dict[str, MetricStats] = {}
    for name in ROLLUP_METRICS:
        values = [v for r in strides if (v := getattr(r.stride, name)) is not None]
        stats = metric_stats(values)
        if stats is not None:
            metrics[name] = stats
    n = len(strides)
    return DailyRollup(
        patient=patient,
        side=side,
        day=day,
        strides=n,
        slap_pct=100.0 * sum(r.stride.foot_slap for r in strides) / n if n else None,
        drag_pct=100.0 * sum(r.stride.toe_drag for r in strides) / n if n else None,
        worn_s=math.fsum(m.minute.worn_s for m in minutes),
        walking_s=math.fsum(m.minute.walking_s for m in minutes),
        metrics=metrics,
    )


def recompute_day(store: Store, patient: str, day: date) -> list[DailyRollup]:
    """Recompute and write the rollups (one per side seen) of ``patient`` on ``day``."""
    start = day_start(day)
    end = start + timedelta(days=1)
    strides: dict[str, list[StrideRecord]] = defaultdict(list)
    cursor: str | None = None
    while True:
        page = store.query_strides(patient, start, end, limit=MAX_PAGE, cursor=cursor)
        for record in page.records:
            strides[record.side].append(record)
        cursor = page.next_cursor
        if cursor is None:
            break
    minutes: dict[str, list[ActivityRecord]] = defaultdict(list)
    for minute in store.query_activity(patient, start, end):
        minutes[minute.side].append(minute)
    rollups = [
        compute_rollup(patient, side, day, strides.get(side, []), minutes.get(side, []))
        for side in sorted(set(strides) | set(minutes))
    ]
    if rollups:
        store.write_rollups(rollups)
    return rollups


class RollupMaintainer:
    """Remembers which (patient, day) pairs changed and recomputes just those on refresh."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._dirty: set[tuple[str, date]] = set()
        self._lock = threading.Lock()

    def mark_strides(self, records: Iterable[StrideRecord]) -> None:
        """Note the days touched by written strides."""
        with self._lock:
            self._dirty.update((r.patient, parse_utc(r.stride.ic_t).date()) for r in records)

    def mark_activity(self, records: Iterable[ActivityRecord]) -> None:
        """Note the days touched by written activity minutes."""
        with self._lock:
            self._dirty.update((r.patient, parse_utc(r.minute.t).date()) for r in records)

    @property
    def pending(self) -> int:
        """How many (patient, day) pairs wait for a recompute."""
        with self._lock:
            return len(self._dirty)

    def refresh(self) -> int:
        """Recompute every dirty day; a day that fails stays dirty. Returns days recomputed."""
        with self._lock:
            todo, self._dirty = self._dirty, set()
        done = 0
        try:
            for patient, day in sorted(todo):
                recompute_day(self.store, patient, day)
                done += 1
        finally:
            if done < len(todo):
                with self._lock:
                    self._dirty.update(sorted(todo)[done:])
        return done
