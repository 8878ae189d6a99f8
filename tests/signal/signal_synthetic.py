"""Synthetic body-frame gyro traces with events at chosen times (known answers for tests)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class SyntheticGait:
    acc_mps2: FloatArray
    gyr_dps: FloatArray
    sampling_rate_hz: float
    ic_t: FloatArray
    """Every initial contact (s)."""
    to_t: FloatArray
    """Every toe-off (s); `to_t[k]` precedes `ic_t[k]`."""


def _half_sine(t: FloatArray, t0: float, t1: float, amplitude: float) -> FloatArray:
    inside = (t >= t0) & (t < t1)
    out: FloatArray = np.where(inside, amplitude * np.sin(np.pi * (t - t0) / (t1 - t0)), 0.0)
    return out


def synthetic_gait(
    n_swings: int = 8,
    *,
    stride_s: float = 1.1,
    stance_fraction: float = 0.6,
    rate_hz: float = 200.0,
    still_s: float = 2.0,
) -> SyntheticGait:
    """gyr_y shaped like a real foot: loading peak after IC, push-off peak, −350 deg/s swing.

    Acceleration is gravity only (+9.81 on z): enough for event detection, not for lengths.
    """
    duration = 2 * still_s + n_swings * stride_s
    t = np.arange(int(duration * rate_hz)) / rate_hz
    gy = np.zeros_like(t)
    to_t = still_s + np.arange(n_swings) * stride_s
    swing_s = (1.0 - stance_fraction) * stride_s
    ic_t = to_t + swing_s
    # Push-off long enough that its falling slope meets the swing's at toe-off, so the
    # steepest fall of gyr_y is exactly at toe-off, as in real recordings.
    push_off_s = swing_s * 450.0 / 350.0
    for to, ic in zip(to_t, ic_t, strict=True):
        gy += _half_sine(t, to - push_off_s, to, 450.0)  # heel rise and push-off
        gy += _half_sine(t, to, ic, -350.0)  # swing: toes rise relative to heel
        gy += _half_sine(t, ic, ic + 0.08 * stride_s, 300.0)  # loading: foot slaps flat
    gyr = np.zeros((t.shape[0], 3))
    gyr[:, 1] = gy
    acc = np.tile([0.0, 0.0, 9.81], (t.shape[0], 1))
    return SyntheticGait(acc, gyr, rate_hz, ic_t, to_t)
