"""Input checks: shapes, units, rates; NaN rows become gaps instead of silent garbage."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dorsi.signal.errors import InputShapeError, TooShortError, UnitError
from dorsi.signal.units import check_rate

__all__ = ["GYRO_SATURATION_DPS", "as_imu_arrays", "check_units", "finite_runs"]

FloatArray = NDArray[np.float64]

GYRO_SATURATION_DPS = 1990.0
"""Gyro magnitude at or above which a sample is treated as clipped (±2000 deg/s range)."""
_RAD_S_MAX = 20.0  # walking with a gyro in deg/s always exceeds this on some axis
_MOVING_ACC_STD_MPS2 = 1.5
_UNIT_CHECK_SAMPLES = 200_000  # acceleration spread that means the foot is really moving


def as_imu_arrays(
    acc_mps2: ArrayLike, gyr_dps: ArrayLike, sampling_rate_hz: float
) -> tuple[FloatArray, FloatArray, float]:
    """Return acc and gyro as float64 (n, 3) arrays (no copy when they already are; callers
    must not modify them in place) and the checked rate.

    Raises:
        InputShapeError: not (n, 3) or lengths differ.
        SamplingRateError: absurd rate.
    """
    rate = check_rate(sampling_rate_hz)
    try:
        acc = np.asarray(acc_mps2, dtype=np.float64)
        gyr = np.asarray(gyr_dps, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputShapeError(f"IMU data must be numeric (n, 3) arrays: {exc}") from exc
    for name, arr in (("acc_mps2", acc), ("gyr_dps", gyr)):
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise InputShapeError(f"{name} must have shape (n, 3), got {arr.shape}")
    if acc.shape[0] != gyr.shape[0]:
        raise InputShapeError(f"acc_mps2 has {acc.shape[0]} samples but gyr_dps has {gyr.shape[0]}")
    return acc, gyr, rate


def check_units(acc_mps2: FloatArray, gyr_dps: FloatArray) -> None:
    """Raise `UnitError` when values look like g instead of m/s² or rad/s instead of deg/s.

    NaN rows are ignored. Needs some samples; call on finite data.
    """
    step = max(1, acc_mps2.shape[0] // _UNIT_CHECK_SAMPLES)  # a sample of rows is enough
    acc_mps2, gyr_dps = acc_mps2[::step], gyr_dps[::step]
    ok = np.all(np.isfinite(acc_mps2), axis=1) & np.all(np.isfinite(gyr_dps), axis=1)
    if not np.any(ok):
        raise TooShortError("no finite IMU samples")
    acc_norm = np.linalg.norm(acc_mps2[ok], axis=1)
    median_norm = float(np.median(acc_norm))
    if median_norm < 3.0:
        raise UnitError(
            f"median |acc| is {median_norm:.2f}: acceleration looks like g; multiply by 9.80665"
            " to give m/s²"
        )
    moving = float(np.std(acc_norm)) > _MOVING_ACC_STD_MPS2
    gyr_peak = float(np.max(np.abs(gyr_dps[ok])))
    if moving and gyr_peak < _RAD_S_MAX:
        raise UnitError(
            f"the foot moves but |gyro| never exceeds {gyr_peak:.1f}: gyro looks like rad/s;"
            " multiply by 180/π to give deg/s"
        )


def finite_runs(acc_mps2: FloatArray, gyr_dps: FloatArray) -> list[tuple[int, int]]:
    """Half-open [start, stop) sample ranges without NaN/inf (gaps split the recording)."""
    # A row sum is finite exactly when every value is (IMU values never overflow). Columns are
    # added one by one: `sum(axis=1)` over 3 values per row is ~5x slower on day-long input.
    total = acc_mps2[:, 0] + acc_mps2[:, 1]
    for col in (acc_mps2[:, 2], gyr_dps[:, 0], gyr_dps[:, 1], gyr_dps[:, 2]):
        total += col
    ok = np.isfinite(total)
    if ok.all():
        return [(0, int(ok.shape[0]))] if ok.shape[0] else []
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
