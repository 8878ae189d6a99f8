"""Dashboard figures from daily rollups (never raw strides): per-day series, baseline-vs-recent
comparison, alerts and recovery trends. Pure functions; no I/O.

A *trend* here is a straight line fitted by least squares to the daily values since the last
intervention, with a 95 % band for the fitted line. It describes the data; it is not a diagnosis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from dorsi.server.registry import Intervention
from dorsi.server.store import DailyRollup
from dorsi.server.web.catalog import BY_KEY, DAILY_FIELDS, METRICS, MetricInfo

Z95 = 1.96
SURGICAL_WORDS = ("surgery", "transfer", "decompression", "repair", "graft", "operation")


@dataclass(frozen=True)
class DashboardConfig:
    """Per-clinic thresholds (defaults from the 3–6 / 12–24-month recovery timeline)."""

    worsening_margin_pct: float = 10.0
    """Alert when slap % or drag % of the last 7 days exceeds the 7 days before by this (points)."""
    no_data_days: int = 3
    battery_low_pct: float = 20.0
    signs_of_recovery_days: tuple[int, int] = (91, 183)
    full_return_days: tuple[int, int] = (365, 730)
    baseline_days: int = 14
    recent_days: int = 14
    min_trend_days: int = 7


@dataclass
class Series:
    """Daily values of one side, one entry per day ``first``–``last`` (None on days without data).

    Values are in stored units (s, %, metric units); ``p10``/``p90`` exist for stride metrics.
    """

    days: list[date]
    side: str | None
    values: dict[str, list[float | None]] = field(default_factory=dict)
    counts: dict[str, list[int]] = field(default_factory=dict)
    p10: dict[str, list[float | None]] = field(default_factory=dict)
    p90: dict[str, list[float | None]] = field(default_factory=dict)


def pick_side(rollups: Sequence[DailyRollup], affected_side: str) -> str | None:
    """The affected side if it has rollups, else the side with the most strides (None if empty)."""
    totals: dict[str, int] = {}
    for r in rollups:
        totals[r.side] = totals.get(r.side, 0) + r.strides
    if affected_side in totals:
        return affected_side
    return max(totals, key=lambda s: totals[s]) if totals else None


def build_series(
    rollups: Sequence[DailyRollup], first: date, last: date, side: str | None
) -> Series:
    """One value per day and metric of :data:`METRICS` for ``side`` over ``first``–``last``."""
    n = (last - first).days + 1
    days = [first + timedelta(days=i) for i in range(n)]
    series = Series(days, side)
    for m in METRICS:
        series.values[m.key] = [None] * n
        series.counts[m.key] = [0] * n
        if m.band:
            series.p10[m.key] = [None] * n
            series.p90[m.key] = [None] * n
    for r in rollups:
        if r.side != side or not first <= r.day <= last:
            continue
        i = (r.day - first).days
        has_day = bool(r.strides or r.worn_s or r.walking_s)
        series.values["strides"][i] = float(r.strides) if has_day else None
        series.counts["strides"][i] = 1 if has_day else 0
        for key in ("walking_s", "worn_s"):
            series.values[key][i] = getattr(r, key) if has_day else None
            series.counts[key][i] = 1 if has_day else 0
        for key in ("slap_pct", "drag_pct"):
            series.values[key][i] = getattr(r, key)
            series.counts[key][i] = r.strides
        for m in METRICS:
            if m.key in DAILY_FIELDS:
                continue
            stats = r.metrics.get(m.key)
            if stats is None or not stats.count:
                continue
            series.values[m.key][i] = stats.mean
            series.counts[m.key][i] = stats.count
            series.p10[m.key][i] = stats.p10
            series.p90[m.key][i] = stats.p90
    return series


def window_value(series: Series, key: str, first: date, last: date) -> float | None:
    """``key`` over a window: weighted mean (stride metrics, %), mean per day (counts, times)."""
    pairs = [
        (v, w)
        for d, v, w in zip(series.days, series.values[key], series.counts[key], strict=True)
        if first <= d <= last and v is not None and w > 0
    ]
    total = sum(w for _, w in pairs)
    if not total:
        return None
    return math.fsum(v * w for v, w in pairs) / total


Verdict = Literal["better", "worse", "no clear change", "no data", "no preferred direction"]


@dataclass(frozen=True)
class ComparisonRow:
    """Baseline vs recent window of one metric (stored units); ``verdict`` from ``better``."""

    metric: MetricInfo
    baseline: float | None
    recent: float | None
    change: float | None
    verdict: Verdict


def _tolerance(metric: MetricInfo, baseline: float) -> float:
    """Changes smaller than this are "no clear change": ``min_change`` or 5 % of baseline."""
    return max(metric.min_change, 0.05 * abs(baseline), 1e-9)


def compare_windows(
    series: Series, baseline: tuple[date, date], recent: tuple[date, date]
) -> list[ComparisonRow]:
    """Every metric of :data:`METRICS`, baseline window vs recent window."""
    rows = []
    for m in METRICS:
        a = window_value(series, m.key, *baseline)
        b = window_value(series, m.key, *recent)
        verdict: Verdict
        if a is None or b is None:
            rows.append(ComparisonRow(m, a, b, None, "no data"))
            continue
        change = b - a
        if m.better is None:
            verdict = "no preferred direction"
        elif abs(change) < _tolerance(m, a):
            verdict = "no clear change"
        else:
            improved = change > 0 if m.better == "higher" else change < 0
            verdict = "better" if improved else "worse"
        rows.append(ComparisonRow(m, a, b, change, verdict))
    return rows


def default_windows(
    series: Series, config: DashboardConfig
) -> tuple[tuple[date, date], tuple[date, date]]:
    """Baseline: the first ``baseline_days`` from the first day with data; recent: the last
    ``recent_days`` up to the last day with data (both inside the series)."""
    with_data = [d for d, v in zip(series.days, series.values["strides"], strict=True) if v]
    first = with_data[0] if with_data else series.days[0]
    last = with_data[-1] if with_data else series.days[-1]
    baseline = (first, min(last, first + timedelta(days=config.baseline_days - 1)))
    recent = (max(first, last - timedelta(days=config.recent_days - 1)), last)
    return baseline, recent


@dataclass(frozen=True)
class Alert:
    """Something a therapist should look at; ``kind`` is worsening, no-data or battery."""

    kind: Literal["worsening", "no-data", "battery"]
    text: str


def alerts_for(
    rollups: Sequence[DailyRollup],
    side: str | None,
    today: date,
    last_data_day: date | None,
    battery_pct: float | None,
    config: DashboardConfig,
) -> list[Alert]:
    """Week-over-week worsening of slap/drag %, no data for N days, low sensor battery."""
    out = []
    series = build_series(rollups, today - timedelta(days=13), today, side)
    previous = (today - timedelta(days=13), today - timedelta(days=7))
    this_week = (today - timedelta(days=6), today)
    for key, name in (("slap_pct", "Foot slap"), ("drag_pct", "Toe drag")):
        a = window_value(series, key, *previous)
        b = window_value(series, key, *this_week)
        if a is not None and b is not None and b - a >= config.worsening_margin_pct:
            out.append(Alert("worsening", f"{name} up from {a:.0f} % to {b:.0f} % week over week"))
    if last_data_day is None:
        out.append(Alert("no-data", "No data received yet"))
    elif (today - last_data_day).days >= config.no_data_days:
        out.append(Alert("no-data", f"No data for {(today - last_data_day).days} days"))
    if battery_pct is not None and battery_pct < config.battery_low_pct:
        out.append(Alert("battery", f"Sensor battery low ({battery_pct:.0f} %)"))
    return out


TrendStatus = Literal["on track", "off track", "too early", "watch", "plateau", "not judged"]


@dataclass(frozen=True)
class Trend:
    """Least-squares line of one metric's daily values since ``since`` (stored units).

    ``days``/``fit``/``low``/``high`` are the line and its 95 % band on each day since ``since``;
    ``slope_per_30d`` is the change per 30 days, ``slope_low``/``slope_high`` its 95 % interval.
    """

    metric: MetricInfo
    since: date
    days: list[date]
    fit: list[float]
    low: list[float]
    high: list[float]
    slope_per_30d: float
    slope_low: float
    slope_high: float
    status: TrendStatus
    text: str


def fit_trend(
    series: Series,
    key: str,
    since: date,
    today: date,
    config: DashboardConfig,
    *,
    course_start: date | None = None,
) -> Trend | None:
    """The trend of ``key`` since ``since``; None with < ``min_trend_days`` days of data.

    On/off track is judged against the expected course counted from ``course_start`` (the
    newest surgery, default ``since``)."""
    metric = BY_KEY[key]
    pts = [
        ((d - since).days, v)
        for d, v, w in zip(series.days, series.values[key], series.counts[key], strict=True)
        if d >= since and v is not None and w > 0
    ]
    if len(pts) < max(config.min_trend_days, 3):
        return None
    n = len(pts)
    xbar = math.fsum(x for x, _ in pts) / n
    ybar = math.fsum(y for _, y in pts) / n
    sxx = math.fsum((x - xbar) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    slope = math.fsum((x - xbar) * (y - ybar) for x, y in pts) / sxx
    intercept = ybar - slope * xbar
    resid = math.fsum((y - intercept - slope * x) ** 2 for x, y in pts)
    s = math.sqrt(resid / (n - 2)) if n > 2 else 0.0
    se_slope = s / math.sqrt(sxx)
    x_last = max(x for x, _ in pts)
    days = [since + timedelta(days=x) for x in range(int(x_last) + 1)]
    fit, low, high = [], [], []
    for x in range(int(x_last) + 1):
        y = intercept + slope * x
        half = Z95 * s * math.sqrt(1 / n + (x - xbar) ** 2 / sxx)
        fit.append(y)
        low.append(y - half)
        high.append(y + half)
    slope_low, slope_high = slope - Z95 * se_slope, slope + Z95 * se_slope
    elapsed = (today - (course_start or since)).days  # the expected course runs from surgery
    span_days = x_last - min(x for x, _ in pts)
    if abs(slope) * span_days < metric.min_change:  # significant but too small to matter
        slope_low, slope_high = min(slope_low, 0.0), max(slope_high, 0.0)
    status, text = _judge(metric, slope_low, slope_high, elapsed, config)
    return Trend(
        metric,
        since,
        days,
        fit,
        low,
        high,
        30 * slope,
        30 * slope_low,
        30 * slope_high,
        status,
        text,
    )


def _judge(
    metric: MetricInfo,
    slope_low: float,
    slope_high: float,
    elapsed_days: int,
    config: DashboardConfig,
) -> tuple[TrendStatus, str]:
    """On track against the expected course: improvement visible from 3–6 months, plateau from
    12–24 months (``config``). Improving/worsening means the slope's 95 % interval excludes 0."""
    if metric.better is None:
        return "not judged", "no preferred direction for this metric"
    sign = 1.0 if metric.better == "higher" else -1.0
    improving = min(sign * slope_low, sign * slope_high) > 0
    worsening = max(sign * slope_low, sign * slope_high) < 0
    signs_from, signs_by = config.signs_of_recovery_days
    if worsening:
        return "off track", "getting worse over the fitted period"
    if improving:
        return "on track", "improving over the fitted period"
    if elapsed_days < signs_from:
        return (
            "too early",
            f"no clear change yet; first signs expected after {signs_from // 30} months",
        )
    if elapsed_days <= signs_by:
        return "watch", f"no clear change yet; signs expected by {signs_by // 30} months"
    if elapsed_days >= config.full_return_days[0]:
        return "plateau", "stable; a plateau is expected from 12 months"
    return "off track", f"no improvement {elapsed_days // 30} months after the intervention"


def last_intervention(events: Sequence[Intervention], on_or_before: date) -> Intervention | None:
    """The newest event on or before a day."""
    past = [e for e in events if e.day <= on_or_before]
    return max(past, key=lambda e: (e.day, e.id)) if past else None


def milestones(
    events: Sequence[Intervention], config: DashboardConfig
) -> list[tuple[date, date, str]]:
    """Expected recovery windows after the newest surgical event: (first, last, label)."""
    surgical = [e for e in events if any(w in e.kind.lower() for w in SURGICAL_WORDS)]
    if not surgical:
        return []
    day = max(surgical, key=lambda e: e.day).day
    a, b = config.signs_of_recovery_days
    c, d = config.full_return_days
    return [
        (day + timedelta(days=a), day + timedelta(days=b), "signs of recovery expected (3–6 mo)"),
        (day + timedelta(days=c), day + timedelta(days=d), "full return expected (12–24 mo)"),
    ]
