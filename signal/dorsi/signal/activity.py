"""Brace wear and walking per minute, for adherence (daily wear time and walking time).

Rule, per minute of body-frame data (frames: docs/frames.md):
1. **walking** when strides (from `analyze`) cover at least `WALKING_MIN_S` of the minute;
2. otherwise **not worn** when there is no motion at all (every gyro axis varies by less than
   `NO_MOTION_STD_DPS`, about 3 × MEMS gyro noise: a worn brace always picks up postural sway
   and fidgeting), or when the brace rests in a non-wearing orientation (upside down:
   up·z < `UPSIDE_DOWN_COS`, or on its side: |up·y| > `ON_SIDE_COS`, i.e. rolled > ~58°);
3. otherwise **worn and still** (standing, sitting).
Minutes with fewer than half their samples finite are `UNKNOWN`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dorsi.signal.units import seconds_to_samples
from dorsi.signal.validation import as_imu_arrays

__all__ = ["Activity", "ActivityMinute", "ActivitySummary", "StrideSpan", "classify_activity"]


class StrideSpan(Protocol):
    """What the activity rule reads of a stride (`StrideMetrics` has it): times in s."""

    @property
    def ic_t(self) -> float: ...

    @property
    def next_ic_t(self) -> float: ...


FloatArray = NDArray[np.float64]

ACTIVITY_RATE_HZ = 50.0
WALKING_MIN_S = 5.0
NO_MOTION_STD_DPS = 0.3
UPSIDE_DOWN_COS = -0.5
ON_SIDE_COS = 0.85


class Activity(IntEnum):
    UNKNOWN = -1
    NOT_WORN = 0
    WORN_STILL = 1
    WALKING = 2


@dataclass(frozen=True)
class ActivityMinute:
    start_t: float
    """Start of the minute, s (recording time)."""
    state: Activity
    walking_s: float
    """Time covered by strides in this minute, s."""
    motion_dps: float
    """Largest per-axis gyro standard deviation in the minute, deg/s."""


@dataclass(frozen=True)
class ActivitySummary:
    minutes: tuple[ActivityMinute, ...]
    worn_s: float
    """Brace wear time: minutes worn (still or walking) × minute length, s."""
    walking_s: float
    """Total time covered by strides, s."""


def _walking_per_window(
    strides: Sequence[StrideSpan], starts: FloatArray, length_s: FloatArray
) -> FloatArray:
    """Time covered by strides inside each window [start, start + length), s."""
    ic = np.array([s.ic_t for s in strides], dtype=np.float64)
    nic = np.array([s.next_ic_t for s in strides], dtype=np.float64)
    order = np.argsort(ic)
    ic, nic = ic[order], nic[order]
    longest = float(np.max(nic - ic)) if ic.size else 0.0
    out = np.zeros(starts.shape[0])
    for k, (t0, t1) in enumerate(zip(starts, starts + length_s, strict=True)):
        lo, hi = np.searchsorted(ic, [t0 - longest, t1])
        out[k] = np.clip(np.minimum(nic[lo:hi], t1) - np.maximum(ic[lo:hi], t0), 0.0, None).sum()
    return out


def classify_activity(
    acc_mps2: ArrayLike,
    gyr_dps: ArrayLike,
    strides: Sequence[StrideSpan],
    *,
    sampling_rate_hz: float,
    t0_s: float = 0.0,
    minute_s: float = 60.0,
) -> ActivitySummary:
    """Classify each (possibly partial, last) minute of a recording; see the module rule.

    Args:
        acc_mps2: (n, 3) body-frame specific force, m/s² (docs/frames.md).
        gyr_dps: (n, 3) body-frame gyro, deg/s.
        strides: strides of the same recording (`analyze(...).strides`), times in s.
        sampling_rate_hz: Hz.
        t0_s: time of the first sample, s.
        minute_s: classification window, s.
    """
    acc, gyr, rate_hz = as_imu_arrays(acc_mps2, gyr_dps, sampling_rate_hz)
    # Posture and motion statistics need no more than ~50 Hz: decimate (no filter needed, the
    # per-minute standard deviation of sway and noise survives aliasing).
    step = max(1, int(rate_hz // ACTIVITY_RATE_HZ))
    acc, gyr, fs = acc[::step], gyr[::step], rate_hz / step
    per = seconds_to_samples(minute_s, fs, minimum=2, what="activity window")
    n = acc.shape[0]
    count = -(-n // per)
    pad = count * per - n
    ok = np.all(np.isfinite(acc), axis=1) & np.all(np.isfinite(gyr), axis=1)
    ok_m = np.concatenate((ok, np.zeros(pad, dtype=bool))).reshape(count, per)
    a_m = np.vstack((np.where(ok[:, None], acc, 0.0), np.zeros((pad, 3)))).reshape(count, per, 3)
    g_m = np.vstack((np.where(ok[:, None], gyr, 0.0), np.zeros((pad, 3)))).reshape(count, per, 3)
    n_ok = ok_m.sum(axis=1)
    safe = np.maximum(n_ok, 1)[:, None]
    g_mean = g_m.sum(axis=1) / safe
    g_var = (g_m**2).sum(axis=1) / safe - g_mean**2
    motion = np.sqrt(np.maximum(g_var, 0.0)).max(axis=1)
    unit = a_m / np.maximum(np.linalg.norm(a_m, axis=2, keepdims=True), 1e-9)
    up = unit.sum(axis=1) / safe
    up /= np.maximum(np.linalg.norm(up, axis=1, keepdims=True), 1e-9)
    starts = t0_s + np.arange(count) * per / fs
    lengths = np.minimum(per, n - np.arange(count) * per) / fs
    walking_s = _walking_per_window(strides, starts, lengths)
    minutes: list[ActivityMinute] = []
    for k in range(count):
        start = float(starts[k])
        walking = float(walking_s[k])
        if n_ok[k] < max(2, min(per, n - k * per) // 2):
            minutes.append(ActivityMinute(start, Activity.UNKNOWN, walking, float("nan")))
            continue
        if walking >= WALKING_MIN_S:
            state = Activity.WALKING
        elif (
            motion[k] < NO_MOTION_STD_DPS
            or up[k, 2] < UPSIDE_DOWN_COS
            or abs(up[k, 1]) > ON_SIDE_COS
        ):
            state = Activity.NOT_WORN
        else:
            state = Activity.WORN_STILL
        minutes.append(ActivityMinute(start, state, walking, float(motion[k])))
    worn = sum(
        min(minute_s, (n - k * per) / fs)
        for k, m in enumerate(minutes)
        if m.state in (Activity.WORN_STILL, Activity.WALKING)
    )
    return ActivitySummary(
        minutes=tuple(minutes),
        worn_s=float(worn),
        walking_s=float(sum(m.walking_s for m in minutes)),
    )
