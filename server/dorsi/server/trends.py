"""Trend series and window summaries computed from daily rollups (never from raw strides)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from dorsi.server.store import DailyRollup

MAX_RANGE_DAYS = 2 * 366  # 24 months
EARLIEST_DAY = date(2000, 1, 1)
"""No stride is older (the MQTT contract refuses earlier timestamps)."""
LATEST_DAY = date(2100, 12, 31)


@dataclass(frozen=True)
class TrendPoint:
    """One period (day, or ISO week starting on Monday ``day``) of one metric on one side."""

    day: date
    side: str
    strides: int
    slap_pct: float | None
    drag_pct: float | None
    worn_s: float
    walking_s: float
    count: int
    mean: float | None
    p10: float | None
    p50: float | None
    p90: float | None


def _weighted(pairs: Sequence[tuple[float | None, int]]) -> float | None:
    total = sum(w for v, w in pairs if v is not None)
    if not total:
        return None
    return sum(v * w for v, w in pairs if v is not None) / total


def daily_points(rollups: Sequence[DailyRollup], metric: str) -> list[TrendPoint]:
    """One point per rollup for ``metric`` (``count`` 0 and None stats if it has no values)."""
    points = []
    for r in rollups:
        stats = r.metrics.get(metric)
        points.append(
            TrendPoint(
                r.day,
                r.side,
                r.strides,
                r.slap_pct,
                r.drag_pct,
                r.worn_s,
                r.walking_s,
                stats.count if stats else 0,
                stats.mean if stats else None,
                stats.p10 if stats else None,
                stats.p50 if stats else None,
                stats.p90 if stats else None,
            )
        )
    return points


def weekly_points(rollups: Sequence[DailyRollup], metric: str) -> list[TrendPoint]:
    """ISO weeks: sums of counts/times, count-weighted means of means and of daily percentiles."""
    groups: dict[tuple[date, str], list[TrendPoint]] = defaultdict(list)
    for point in daily_points(rollups, metric):
        monday = point.day - timedelta(days=point.day.weekday())
        groups[(monday, point.side)].append(point)
    out = []
    for (monday, side), days in sorted(groups.items()):
        out.append(
            TrendPoint(
                monday,
                side,
                sum(d.strides for d in days),
                _weighted([(d.slap_pct, d.strides) for d in days]),
                _weighted([(d.drag_pct, d.strides) for d in days]),
                sum(d.worn_s for d in days),
                sum(d.walking_s for d in days),
                sum(d.count for d in days),
                _weighted([(d.mean, d.count) for d in days]),
                _weighted([(d.p10, d.count) for d in days]),
                _weighted([(d.p50, d.count) for d in days]),
                _weighted([(d.p90, d.count) for d in days]),
            )
        )
    return out


@dataclass(frozen=True)
class WindowSummary:
    """``metric`` over ``first``–``last`` (inclusive) from daily rollups."""

    first: date
    last: date
    days_with_data: int
    strides: int
    mean: float | None
    p50: float | None
    slap_pct: float | None
    drag_pct: float | None
    walking_s_per_day: float | None


def summarise(
    rollups: Sequence[DailyRollup], metric: str, first: date, last: date
) -> WindowSummary:
    """Summary of the rollups that fall in the window."""
    points = [p for p in daily_points(rollups, metric) if first <= p.day <= last]
    days = {p.day for p in points if p.strides or p.worn_s}
    return WindowSummary(
        first,
        last,
        len(days),
        sum(p.strides for p in points),
        _weighted([(p.mean, p.count) for p in points]),
        _weighted([(p.p50, p.count) for p in points]),
        _weighted([(p.slap_pct, p.strides) for p in points]),
        _weighted([(p.drag_pct, p.strides) for p in points]),
        sum(p.walking_s for p in points) / len(days) if days else None,
    )


def check_range(first: date, last: date) -> None:
    """ValueError unless ``first <= last``, the range spans at most 24 months and both days lie
    within :data:`EARLIEST_DAY`–:data:`LATEST_DAY`."""
    for day in (first, last):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ValueError(f"{day} is outside {EARLIEST_DAY}..{LATEST_DAY}")
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise ValueError(f"range {first}..{last} is longer than 24 months")
