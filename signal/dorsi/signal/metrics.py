"""Per-stride metrics: the contract names used in files, MQTT and the store."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

__all__ = ["STRIDE_FIELDS", "StrideMetrics"]


@dataclass(frozen=True)
class StrideMetrics:
    """One stride of one foot, from initial contact `ic_t` to the next one `next_ic_t`.

    Times in s (recording time), angles in deg relative to foot-flat (pitch > 0: toes above
    heel; docs/frames.md). NaN marks a value that could not be estimated.
    """

    ic_t: float
    to_t: float
    next_ic_t: float
    stride_time_s: float
    stance_time_s: float
    swing_time_s: float
    cadence_spm: float
    """Steps per minute (two steps per stride)."""
    stride_length_m: float
    gait_speed_mps: float
    foot_strike_angle_deg: float
    """Pitch at `ic_t`: > 0 heel first, ≤ 0 flat or toe first."""
    toe_off_angle_deg: float
    """Pitch at `to_t` (negative: toes below heel at push-off)."""
    midswing_pitch_deg: float
    """Pitch halfway between `to_t` and `next_ic_t` (toes-down in foot drop)."""
    peak_swing_pitch_deg: float
    min_toe_clearance_cm: float
    foot_slap: int
    slap_score: float
    toe_drag: int
    drag_score: float
    turn: int
    bout: int
    quality: float
    """Confidence 0–1; low when the stride is atypical or the signal was degraded."""

    def to_record(self) -> dict[str, float | int | None]:
        """Plain dict with NaN replaced by None (empty in CSV, null in JSON)."""
        out: dict[str, float | int | None] = {}
        for key, value in asdict(self).items():
            out[key] = None if isinstance(value, float) and math.isnan(value) else value
        return out


STRIDE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(StrideMetrics))
"""Column order of stride tables (CSV, MQTT payloads)."""
