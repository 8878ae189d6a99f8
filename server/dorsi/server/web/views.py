"""What the pages, the PDF report and the exports show about a patient, read from the store's
daily rollups (a 24-month page is one rollup query) and the registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dorsi.server.registry import Intervention, Patient, Registry
from dorsi.server.schema import parse_utc
from dorsi.server.store import Store, StrideRecord, day_start
from dorsi.server.web.analysis import (
    Alert,
    ComparisonRow,
    DashboardConfig,
    Series,
    Trend,
    alerts_for,
    build_series,
    compare_windows,
    default_windows,
    fit_trend,
    last_intervention,
    milestones,
    pick_side,
    window_value,
)
from dorsi.server.web.catalog import METRICS

RANGES = {"2w": 14, "1m": 30, "3m": 91, "6m": 182, "12m": 365, "24m": 730}
RANGE_LABELS = {
    "2w": "2 weeks",
    "1m": "1 month",
    "3m": "3 months",
    "6m": "6 months",
    "12m": "12 months",
    "24m": "24 months",
}
DEFAULT_RANGE = "3m"


@dataclass(frozen=True)
class PatientSummary:
    """One row of the therapist's patient list."""

    patient: Patient
    last_data_t: datetime | None
    battery_pct: float | None
    battery_t: datetime | None
    link: str | None
    strides_today: int
    strides_week: int
    walking_s_today: float
    slap_pct_7d: float | None
    drag_pct_7d: float | None
    alerts: list[Alert]


def patient_summary(
    store: Store, patient: Patient, today: date, config: DashboardConfig
) -> PatientSummary:
    """Last data, battery, strides today / last 7 days, 7-day slap and drag %, alerts."""
    rollups = store.query_rollups(patient.id, today - timedelta(days=13), today, metrics=[])
    side = pick_side(rollups, patient.affected_side)
    series = build_series(rollups, today - timedelta(days=13), today, side)
    week = (today - timedelta(days=6), today)
    last_t = store.last_stride_t(patient.id)
    last_data = parse_utc(last_t) if last_t else None
    battery = store.latest_battery(patient.id)
    statuses = store.latest_status(patient.id)
    newest = max(statuses, key=lambda r: r.t) if statuses else None
    today_rollups = [r for r in rollups if r.day == today]
    return PatientSummary(
        patient=patient,
        last_data_t=last_data,
        battery_pct=battery.battery_pct if battery else None,
        battery_t=parse_utc(battery.t) if battery else None,
        link=newest.link if newest else None,
        strides_today=sum(r.strides for r in today_rollups),
        strides_week=sum(r.strides for r in rollups if week[0] <= r.day <= week[1]),
        walking_s_today=sum(r.walking_s for r in today_rollups),
        slap_pct_7d=window_value(series, "slap_pct", *week),
        drag_pct_7d=window_value(series, "drag_pct", *week),
        alerts=alerts_for(
            rollups,
            side,
            today,
            last_data.date() if last_data else None,
            battery.battery_pct if battery else None,
            config,
        ),
    )


@dataclass(frozen=True)
class PatientReport:
    """A patient over ``first``–``last``: daily series, comparison, trends, events."""

    patient: Patient
    first: date
    last: date
    side: str | None
    series: Series
    baseline: tuple[date, date]
    recent: tuple[date, date]
    comparison: list[ComparisonRow]
    trends: dict[str, Trend]
    trend_since: date | None
    events: list[Intervention]
    milestones: list[tuple[date, date, str]]


def patient_report(
    store: Store,
    registry: Registry,
    patient: Patient,
    first: date,
    last: date,
    config: DashboardConfig,
) -> PatientReport:
    """Everything the patient page and the PDF report show, from one rollup query."""
    rollups = store.query_rollups(patient.id, first, last)
    side = pick_side(rollups, patient.affected_side)
    series = build_series(rollups, first, last, side)
    baseline, recent = default_windows(series, config)
    events = registry.interventions(patient.id)
    event = last_intervention(events, last)
    since = max(event.day, first) if event else None
    with_data = [d for d, v in zip(series.days, series.values["strides"], strict=True) if v]
    start = since or (with_data[0] if with_data else first)
    expected = milestones(events, config)
    surgery = (
        expected[0][0] - timedelta(days=config.signs_of_recovery_days[0]) if expected else None
    )
    trends = {}
    for m in METRICS:
        trend = fit_trend(series, m.key, start, last, config, course_start=surgery)
        if trend is not None:
            trends[m.key] = trend
    return PatientReport(
        patient,
        first,
        last,
        side,
        series,
        baseline,
        recent,
        compare_windows(series, baseline, recent),
        trends,
        start if with_data else None,
        [e for e in events if e.day <= last],
        expected,
    )


def _epoch_s(day: date) -> int:
    return int(day_start(day).timestamp())


def _scaled(values: list[float | None], scale: float) -> list[float | None]:
    return [None if v is None else round(v * scale, 4) for v in values]


def chart_payload(report: PatientReport) -> dict[str, Any]:
    """The JSON the browser charts draw: x in Unix seconds (00:00 UTC of each day)."""
    series = report.series
    x = [_epoch_s(d) for d in series.days]
    index = {d: i for i, d in enumerate(series.days)}
    charts = []
    for m in METRICS:
        chart: dict[str, Any] = {
            "key": m.key,
            "label": m.label,
            "unit": m.unit,
            "better": m.better,
            "decimals": m.decimals,
            "mean": _scaled(series.values[m.key], m.scale),
        }
        if m.band:
            chart["p10"] = _scaled(series.p10[m.key], m.scale)
            chart["p90"] = _scaled(series.p90[m.key], m.scale)
        trend = report.trends.get(m.key)
        if trend is not None:
            fit: list[float | None] = [None] * len(x)
            low: list[float | None] = [None] * len(x)
            high: list[float | None] = [None] * len(x)
            for d, f, lo, hi in zip(trend.days, trend.fit, trend.low, trend.high, strict=True):
                if d in index:
                    i = index[d]
                    fit[i], low[i], high[i] = (round(v * m.scale, 4) for v in (f, lo, hi))
            chart["trend"] = {
                "fit": fit,
                "low": low,
                "high": high,
                "status": trend.status,
                "text": trend.text,
                "slope_per_30d": trend.slope_per_30d * m.scale,
            }
        charts.append(chart)
    return {
        "x": x,
        "charts": charts,
        "events": [{"t": _epoch_s(e.day), "label": e.kind} for e in report.events],
        "milestones": [
            {
                "t0": _epoch_s(a),
                "t1": _epoch_s(b),
                "label": label,
                "short": label.split("(")[-1][:-1],
            }
            for a, b, label in report.milestones
        ],
    }


def latest_strides(store: Store, patient_id: str, n: int = 15) -> list[StrideRecord]:
    """The ``n`` newest strides (newest first), read from the hour before the last stride."""
    last_t = store.last_stride_t(patient_id)
    if last_t is None:
        return []
    end = parse_utc(last_t) + timedelta(microseconds=1)
    page = store.query_strides(patient_id, end - timedelta(hours=1), end, limit=10_000)
    return list(reversed(page.records[-n:]))


def utc_today() -> date:
    """Today's UTC date (rollup days are UTC days)."""
    return datetime.now(UTC).date()
