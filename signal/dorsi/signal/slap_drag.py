"""Foot slap (at contact) and toe drag (in swing): features, scores (0–1) and flags.

Foot slap: with weak dorsiflexors the forefoot is not lowered under control after a heel-first
contact but drops onto the ground. Healthy loading response (heel contact → foot flat) takes
about 10 % of the gait cycle (≈ 0.1–0.15 s) at a plantarflexion rate of ≈ 10–15 × the strike
angle per second; a slap halves that time and doubles the rate. Two features:
- loading time: contact → the plantarflexion velocity (gyr_y > 0) falls back below 10 % of its
  peak (foot flat), s;
- normalised lowering rate: peak plantarflexion velocity / max(strike angle, 5°), 1/s.
Each maps linearly to 0–1 between its healthy and its slap value; the score is their mean.
A slap needs a heel-first contact (strike angle > `SLAP_MIN_STRIKE_DEG`); flag at score ≥ 0.5.

Toe drag: a toe touching the ground in swing brakes the foot for a few tens of ms: the forward
velocity from the strapdown trajectory loses speed against its own course. The loss is measured
against the chord joining the velocity `DRAG_CHORD_HALF_S` before and after each swing sample
(`SwingKinematics.velocity_dip_mps`; samples that close to toe-off or contact are not used).
The swing's own velocity curve changes over hundreds of ms and stays close to or above that
chord whether the foot is speeding up or slowing down, so the measure does not depend on the
concurrent swing acceleration. (An earlier measure, the drop below the running maximum, had
the swing acceleration during the contact cancel part of the loss, more so at low sampling
rates, where sampling spreads the loss over a longer time: drag F1 0.89 at 52 Hz.)
Score: linear from `DRAG_DIP_NONE_MPS` (0) to `DRAG_DIP_FULL_MPS` (1); flag at ≥ 0.5.
Frames and signs: docs/frames.md.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dorsi.signal.units import seconds_to_samples

__all__ = ["DRAG_CHORD_HALF_S", "drag_score", "loading_response", "slap_score"]

FloatArray = NDArray[np.float64]

LOADING_WINDOW_S = 0.25
"""Contact → foot-flat is searched within this window after initial contact."""
LOADING_HEALTHY_S, LOADING_SLAP_S = 0.10, 0.05
RATE_HEALTHY_PER_S, RATE_SLAP_PER_S = 15.0, 30.0
SLAP_MIN_STRIKE_DEG = 2.0
MIN_STRIKE_FOR_RATE_DEG = 5.0
DRAG_DIP_NONE_MPS, DRAG_DIP_FULL_MPS = 0.1, 0.4
DRAG_CHORD_HALF_S = 0.05
"""Half-width of the chord the forward velocity is compared with: longer than a toe contact
(tens of ms), shorter than the swing's own velocity changes; also the margin kept from toe-off
and contact. At 52 Hz it rounds to 3 samples (58 ms)."""
FLAG_SCORE = 0.5


def loading_response(
    gyr_y_dps: FloatArray, ic_pos: FloatArray, *, sampling_rate_hz: float
) -> tuple[FloatArray, FloatArray]:
    """Peak plantarflexion velocity (deg/s) and loading time (s) after each contact.

    Args:
        gyr_y_dps: body-frame gyr_y (low-passed), deg/s; plantarflexion is positive
            (docs/frames.md).
        ic_pos: contact positions (fractional samples).
    """
    fs = sampling_rate_hz
    window = seconds_to_samples(LOADING_WINDOW_S, fs, minimum=3, what="loading window")
    peaks = np.full(ic_pos.shape[0], np.nan)
    times = np.full(ic_pos.shape[0], np.nan)
    for j, ic in enumerate(ic_pos):
        i0 = int(np.ceil(ic))
        seg = gyr_y_dps[i0 : i0 + window]
        if seg.shape[0] < 3:
            continue
        k = int(np.argmax(seg))
        peaks[j] = seg[k]
        below = np.flatnonzero(seg[k:] < 0.1 * seg[k])
        end = k + int(below[0]) if below.size else seg.shape[0]
        times[j] = (i0 + end - ic) / fs
    return peaks, times


def _ramp(value: FloatArray, zero_at: float, one_at: float) -> FloatArray:
    out: FloatArray = np.clip((value - zero_at) / (one_at - zero_at), 0.0, 1.0)
    return out


def slap_score(
    peak_dps: FloatArray, loading_s: FloatArray, strike_deg: FloatArray
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Slap score 0–1 and flag per contact (NaN score when features are missing)."""
    rate = peak_dps / np.maximum(strike_deg, MIN_STRIKE_FOR_RATE_DEG)
    score = 0.5 * (
        _ramp(loading_s, LOADING_HEALTHY_S, LOADING_SLAP_S)
        + _ramp(rate, RATE_HEALTHY_PER_S, RATE_SLAP_PER_S)
    )
    score = np.where(np.isfinite(peak_dps + loading_s + strike_deg), score, np.nan)
    flag = (np.nan_to_num(score) >= FLAG_SCORE) & (np.nan_to_num(strike_deg) > SLAP_MIN_STRIKE_DEG)
    return score, flag.astype(np.int64)


def drag_score(velocity_dip_mps: FloatArray) -> tuple[FloatArray, NDArray[np.int64]]:
    """Drag score 0–1 and flag per swing from the forward-velocity loss below its chord (m/s)."""
    score = np.where(
        np.isfinite(velocity_dip_mps),
        _ramp(velocity_dip_mps, DRAG_DIP_NONE_MPS, DRAG_DIP_FULL_MPS),
        np.nan,
    )
    flag = np.nan_to_num(score) >= FLAG_SCORE
    return score, flag.astype(np.int64)
