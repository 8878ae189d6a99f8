"""Analysis settings: one frozen dataclass, every field with its unit in the name."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GaitConfig"]


@dataclass(frozen=True)
class GaitConfig:
    """Tunable constants of the gait pipeline (defaults: physiological, not fitted to one file).

    Frames and signs: see docs/frames.md (body frame, gyr_y < 0 in swing).
    """

    swing_lowpass_hz: float = 5.0
    """Low-pass cut-off for finding the mid-swing gyr_y plateau."""
    event_lowpass_hz: float = 30.0
    """Zero-phase low-pass applied before locating IC and TO (removes impact ringing only)."""
    swing_min_dps: float = 60.0
    """Mid-swing gyr_y (low-passed) must fall below −swing_min_dps to count as a swing."""
    swing_prominence_dps: float = 60.0
    """Minimum prominence of the mid-swing gyr_y trough."""
    contact_peak_fraction: float = 0.15
    """A local gyr_y maximum above this fraction of the swing trough (i.e. within 15 % of zero)
    marks a toe-first or flat contact that has no upward zero crossing."""
    min_step_interval_s: float = 0.35
    """Two swings of the same foot are at least this far apart."""
    event_search_s: float = 0.45
    """IC is searched up to this long after mid-swing, TO up to this long before it."""
    min_stride_time_s: float = 0.5
    max_stride_time_s: float = 2.5
    """Strides longer than this end a walking bout (standing between steps)."""
    max_stance_window_s: float = 1.0
    """Mid-stance before toe-off (zero-velocity instant) is searched at most this long before it."""
    midstance_after_ic_s: float = 0.35
    """Mid-stance after initial contact is searched at most this long after it. The windows
    below are trailing (causal), so this is also the streaming delay: a stride is complete once
    this much data past its closing contact has been seen."""
    midstance_smoothing_s: float = 0.2
    """Trailing window of gyro energy used to find mid-stance: the zero-velocity instant is the
    last sample of the stillest such window."""
    gravity_window_s: float = 0.1
    """Trailing window averaged for gravity at mid-stance (it ends at the zero-velocity instant)."""
    toe_lever_arm_m: tuple[float, float, float] = (0.15, 0.0, -0.06)
    """Toe position relative to the sensor, body frame (x toes, y left, z up), m."""
    turn_heading_deg: float = 20.0
    """A stride whose foot heading changes by more than this is flagged as a turn."""
