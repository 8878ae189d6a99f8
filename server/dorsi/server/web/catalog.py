"""The daily metrics the dashboard, the PDF report and the FHIR export show, with units and the
clinically better direction (used to colour changes and to judge a recovery trend)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower"] | None


@dataclass(frozen=True)
class MetricInfo:
    """One chart: ``key`` is a rolled-up stride metric or a daily field (strides, times, %).

    ``scale`` converts the stored unit to the displayed ``unit`` (e.g. walking s → min).
    ``band`` is True when the daily p10–p90 band is drawn (stride metrics only). A change must
    exceed both ``min_change`` and 5 % of the baseline to count as better or worse.
    """

    key: str
    label: str
    unit: str
    better: Better
    scale: float = 1.0
    band: bool = False
    decimals: int = 1
    min_change: float = 0.0
    """Smallest change (stored units) called better/worse; smaller is "no clear change"."""


DAILY_FIELDS = ("strides", "walking_s", "worn_s", "slap_pct", "drag_pct")

METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("strides", "Strides per day", "strides", "higher", decimals=0, min_change=10),
    MetricInfo("walking_s", "Walking time", "min/day", "higher", scale=1 / 60, min_change=120),
    MetricInfo("worn_s", "Brace wear time", "h/day", "higher", scale=1 / 3600, min_change=1800),
    MetricInfo("cadence_spm", "Cadence", "steps/min", "higher", band=True, min_change=3),
    MetricInfo(
        "gait_speed_mps", "Gait speed", "m/s", "higher", band=True, decimals=2, min_change=0.05
    ),
    MetricInfo(
        "stride_length_m", "Stride length", "m", "higher", band=True, decimals=2, min_change=0.05
    ),
    MetricInfo(
        "foot_strike_angle_deg", "Foot strike angle", "°", "higher", band=True, min_change=2
    ),
    MetricInfo(
        "midswing_pitch_deg", "Mid-swing foot pitch", "°", "higher", band=True, min_change=2
    ),
    MetricInfo("toe_off_angle_deg", "Toe-off angle", "°", None, band=True, min_change=2),
    MetricInfo(
        "min_toe_clearance_cm", "Minimum toe clearance", "cm", "higher", band=True, min_change=0.3
    ),
    MetricInfo("slap_pct", "Foot slap", "% of strides", "lower", min_change=3),
    MetricInfo("drag_pct", "Toe drag", "% of strides", "lower", min_change=3),
)
BY_KEY = {m.key: m for m in METRICS}
STRIDE_METRICS = tuple(m.key for m in METRICS if m.key not in DAILY_FIELDS)
