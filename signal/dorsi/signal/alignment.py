"""Mounting alignment: the rotation from the clipped-on sensor's axes to the body frame.

Body frame (docs/frames.md): x toward the toes, y to the foot's left, z up when the foot is flat.
- z: gravity (the accelerometer reading, pointing up) averaged over still periods close to
  walking (foot-flat stance; sitting with the toes up would tilt it);
- y: the dominant gyro axis while walking (the foot pitches about its medio-lateral axis),
  made perpendicular to z;
- sign of y (and so of x = y × z): foot pitch must dip deepest at push-off (toes down, about
  −40° to −70°) and rise less at heel strike, so pitch integrated from gyr_y = −d(pitch)/dt is
  negatively skewed while walking. This holds for either foot, healthy or foot drop;
- heading (rotation about z): x is turned to the median direction of travel of straight strides
  (from the strapdown trajectory). The dominant gyro axis is the oblique ankle axis, up to ~25°
  off; the direction of travel differs from the foot's long axis only by the toe-out angle
  (typically 5–15°), so pitch is the sole angle in the direction of progression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import uniform_filter1d

from dorsi.signal.errors import SignalError
from dorsi.signal.units import seconds_to_samples
from dorsi.signal.validation import as_imu_arrays

__all__ = ["AlignmentError", "MountingEstimate", "apply_mounting", "estimate_mounting"]

FloatArray = NDArray[np.float64]

STILL_GYR_DPS = 15.0
"""Smoothed gyro magnitude below which the foot counts as still."""
STILL_ACC_TOLERANCE_MPS2 = 0.6
"""Still samples must have |acc| within this of the median still |acc|."""
WALKING_GYR_DPS = 100.0
"""Gyro magnitude above which a sample counts as walking rotation."""
MIN_WALKING_S = 2.0
MIN_TRAVEL_STRIDES = 3
MIN_TRAVEL_M = 0.3
NEAR_WALKING_S = 3.0
"""Still samples within about half this of walking rotation count as foot-flat stance."""
MIN_STILL_S = 0.5


class AlignmentError(SignalError):
    """Not enough still or walking data to estimate the sensor mounting."""


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class MountingEstimate:
    """Estimated sensor → body rotation; `body = rotation @ sensor` for any vector."""

    rotation: FloatArray
    """(3, 3) rotation matrix; rows are the body axes x, y, z in sensor coordinates."""
    rotation_angle_deg: float
    """Total angle of the rotation (0 = sensor already body-aligned)."""
    tilt_deg: float
    """Angle between the sensor z axis and the body z (up at foot-flat)."""
    still_s: float
    """Duration of still data used for gravity."""
    walking_s: float
    """Duration of walking rotation used for the pitch axis."""
    confidence: float
    """0–1: how clearly the pitch axis dominates and its sign is resolved."""


def estimate_mounting(
    acc_mps2: ArrayLike, gyr_dps: ArrayLike, *, sampling_rate_hz: float
) -> MountingEstimate:
    """Estimate the sensor → body rotation from gravity (still) and the pitch axis (walking).

    Args:
        acc_mps2: (n, 3) specific force in sensor axes, m/s² (body frame: docs/frames.md).
        gyr_dps: (n, 3) angular rate in sensor axes, deg/s.
        sampling_rate_hz: Hz.

    Works for either foot: the body frame's y points to the foot's left on both.
    NaN rows are ignored.

    Raises:
        AlignmentError: less than `MIN_STILL_S` still or `MIN_WALKING_S` walking data.
    """
    acc, gyr, fs = as_imu_arrays(acc_mps2, gyr_dps, sampling_rate_hz)
    finite = np.all(np.isfinite(acc), axis=1) & np.all(np.isfinite(gyr), axis=1)
    acc, gyr = acc[finite], gyr[finite]
    if acc.shape[0] == 0:
        raise AlignmentError("no finite samples to estimate the mounting from")
    win = seconds_to_samples(0.1, fs, what="stillness window")
    gyr_norm = np.linalg.norm(gyr, axis=1)
    smooth = uniform_filter1d(gyr_norm, win, mode="nearest")
    acc_norm = np.linalg.norm(acc, axis=1)
    walking = gyr_norm > WALKING_GYR_DPS
    if np.count_nonzero(walking) < seconds_to_samples(MIN_WALKING_S, fs) // 2:
        raise AlignmentError(
            f"only {np.count_nonzero(walking) / fs:.2f} s of walking rotation: record at least"
            " a few strides of walking or use frame='body'"
        )
    still = smooth < STILL_GYR_DPS
    # Foot-flat is the still stance between steps; sitting (toes up) or a brace put down are
    # still too, so prefer still samples close to walking.
    near = uniform_filter1d(walking.astype(np.float64), seconds_to_samples(NEAR_WALKING_S, fs)) > 0
    min_still = seconds_to_samples(MIN_STILL_S, fs)
    if np.count_nonzero(still & near) >= min_still:
        still &= near
    if np.count_nonzero(still) < min_still:
        raise AlignmentError(
            f"only {np.count_nonzero(still) / fs:.2f} s of still data (need {MIN_STILL_S} s):"
            " include some standing or use frame='body'"
        )
    still &= np.abs(acc_norm - np.median(acc_norm[still])) < STILL_ACC_TOLERANCE_MPS2
    up = np.mean(acc[still] / acc_norm[still, None], axis=0)
    z = up / np.linalg.norm(up)

    g = gyr[walking]
    g_perp = g - np.outer(g @ z, z)
    eigval, eigvec = np.linalg.eigh(g_perp.T @ g_perp)
    y = eigvec[:, -1] - (eigvec[:, -1] @ z) * z
    y /= np.linalg.norm(y)
    dominance = 1.0 - float(eigval[-2] / eigval[-1])

    # Sign: pitch (from gyr_y = −d pitch/dt) is negatively skewed while walking.
    pitch = -np.cumsum(gyr @ y) / fs
    pitch -= uniform_filter1d(pitch, seconds_to_samples(2.0, fs), mode="nearest")
    active = uniform_filter1d(gyr_norm, seconds_to_samples(1.0, fs), mode="nearest") > 50.0
    p = pitch[active] if np.any(active) else pitch
    skew = float(np.mean((p - p.mean()) ** 3) / max(float(p.std()), 1e-9) ** 3)
    if skew > 0:
        y = -y
    x = np.cross(y, z)
    rotation = _align_heading_to_travel(np.vstack((x, y, z)), acc, gyr, fs)
    angle = float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))
    return MountingEstimate(
        rotation=rotation,
        rotation_angle_deg=angle,
        tilt_deg=float(np.degrees(np.arccos(np.clip(z[2], -1.0, 1.0)))),
        still_s=float(np.count_nonzero(still) / fs),
        walking_s=float(np.count_nonzero(walking) / fs),
        confidence=float(np.clip(dominance * min(abs(skew), 1.0), 0.0, 1.0)),
    )


def _align_heading_to_travel(
    rotation: FloatArray, acc: FloatArray, gyr: FloatArray, fs: float
) -> FloatArray:
    """Turn the frame about z so that x follows the foot's direction of travel.

    The dominant gyro axis is the (oblique) ankle axis, up to ~25° off the foot's transverse
    axis; the median direction of straight strides fixes the heading. Unchanged if fewer than
    `MIN_TRAVEL_STRIDES` straight strides are found.
    """
    from dorsi.signal.segmentation import detect_swing_events
    from dorsi.signal.trajectory import integrate_swings

    acc_b, gyr_b = acc @ rotation.T, gyr @ rotation.T
    events = detect_swing_events(gyr_b, sampling_rate_hz=fs)
    kin = integrate_swings(acc_b, gyr_b, events, sampling_rate_hz=fs)
    straight = (kin.stride_length_m > MIN_TRAVEL_M) & (np.abs(kin.heading_change_deg) < 20.0)
    if np.count_nonzero(straight) < MIN_TRAVEL_STRIDES:
        return rotation
    psi = np.radians(float(np.median(kin.travel_direction_deg[straight])))
    x, y, z = rotation
    x_new = np.cos(psi) * x + np.sin(psi) * y
    return np.vstack((x_new, np.cross(z, x_new), z))


def apply_mounting(vectors: FloatArray, estimate: MountingEstimate) -> FloatArray:
    """Rotate (n, 3) sensor-frame vectors (acc or gyro) into the body frame (docs/frames.md)."""
    out: FloatArray = vectors @ estimate.rotation.T
    return out
