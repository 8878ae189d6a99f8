"""Dashboard figures on hand-made rollups with answers known in advance."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dorsi.server.registry import Intervention
from dorsi.server.store import DailyRollup, MetricStats
from dorsi.server.web.analysis import (
    DashboardConfig,
    alerts_for,
    build_series,
    compare_windows,
    fit_trend,
    milestones,
    pick_side,
    window_value,
)

DAY0 = date(2026, 1, 5)
CONFIG = DashboardConfig()


def rollup(day: date, *, strides: int = 100, slap: float = 20.0, speed: float = 1.0) -> DailyRollup:
    stats = MetricStats(strides, speed, speed - 0.2, speed, speed + 0.2)
    return DailyRollup(
        "p", "left", day, strides, slap, 5.0, 3600.0, 1200.0, {"gait_speed_mps": stats}
    )


def test_empty() -> None:
    series = build_series([], DAY0, DAY0 + timedelta(days=6), None)
    assert series.values["strides"] == [None] * 7
    assert window_value(series, "gait_speed_mps", DAY0, DAY0 + timedelta(days=6)) is None
    assert pick_side([], "left") is None
    assert fit_trend(series, "gait_speed_mps", DAY0, DAY0, CONFIG) is None


def test_window_value_weights_by_stride_count() -> None:
    rollups = [
        rollup(DAY0, strides=100, speed=1.0),
        rollup(DAY0 + timedelta(1), strides=300, speed=2.0),
    ]
    series = build_series(rollups, DAY0, DAY0 + timedelta(days=1), "left")
    assert window_value(series, "gait_speed_mps", DAY0, DAY0 + timedelta(1)) == pytest.approx(1.75)
    assert window_value(series, "strides", DAY0, DAY0 + timedelta(1)) == pytest.approx(200)


def test_comparison_colours_direction_per_metric() -> None:
    rollups = [rollup(DAY0 + timedelta(i), slap=40.0 if i < 7 else 10.0) for i in range(14)]
    series = build_series(rollups, DAY0, DAY0 + timedelta(13), "left")
    rows = {
        r.metric.key: r
        for r in compare_windows(
            series, (DAY0, DAY0 + timedelta(6)), (DAY0 + timedelta(7), DAY0 + timedelta(13))
        )
    }
    assert rows["slap_pct"].change == pytest.approx(-30.0)
    assert rows["slap_pct"].verdict == "better"  # lower slap % is better
    assert rows["gait_speed_mps"].verdict == "no clear change"
    assert rows["cadence_spm"].verdict == "no data"


def test_alerts_worsening_no_data_battery() -> None:
    today = DAY0 + timedelta(days=13)
    rollups = [rollup(DAY0 + timedelta(i), slap=10.0 if i < 7 else 25.0) for i in range(14)]
    alerts = alerts_for(rollups, "left", today, today - timedelta(days=4), 15.0, CONFIG)
    kinds = [a.kind for a in alerts]
    assert kinds == ["worsening", "no-data", "battery"]
    assert "10 % to 25 %" in alerts[0].text
    calm = alerts_for(rollups, "left", today, today, 90.0, DashboardConfig(worsening_margin_pct=20))
    assert calm == []


def test_trend_recovers_its_slope_and_judges_the_course() -> None:
    surgery = DAY0
    rollups = [rollup(DAY0 + timedelta(i), speed=0.5 + 0.01 * i) for i in range(120)]
    series = build_series(rollups, DAY0, DAY0 + timedelta(119), "left")
    trend = fit_trend(series, "gait_speed_mps", surgery, DAY0 + timedelta(119), CONFIG)
    assert trend is not None
    assert trend.slope_per_30d == pytest.approx(0.3)
    assert trend.status == "on track"
    flat = build_series(
        [rollup(DAY0 + timedelta(i)) for i in range(120)], DAY0, DAY0 + timedelta(119), "left"
    )
    late = DAY0 + timedelta(days=250)
    judged = fit_trend(flat, "gait_speed_mps", surgery, late, CONFIG)
    assert judged is not None
    assert judged.status == "off track"  # no improvement 8 months after surgery
    early = fit_trend(flat, "gait_speed_mps", surgery, DAY0 + timedelta(30), CONFIG)
    assert early is not None
    assert early.status == "too early"


def test_milestones_follow_the_newest_surgery() -> None:
    events = [
        Intervention(1, "p", "surgery", DAY0, ""),
        Intervention(2, "p", "brace change", DAY0 + timedelta(days=60), ""),
    ]
    (signs_first, signs_last, _), (full_first, full_last, _) = milestones(events, CONFIG)
    assert (signs_first - DAY0).days == 91
    assert (signs_last - DAY0).days == 183
    assert (full_first - DAY0).days == 365
    assert (full_last - DAY0).days == 730
    assert milestones(events[1:], CONFIG) == []
