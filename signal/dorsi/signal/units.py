"""Seconds ↔ samples: the one place where durations become sample counts."""

from __future__ import annotations

import math

from dorsi.signal.errors import SamplingRateError, TooShortError

__all__ = ["MAX_RATE_HZ", "MIN_RATE_HZ", "check_rate", "seconds_to_samples"]

MIN_RATE_HZ = 50.0
"""Lowest supported IMU rate: below it, 15 ms event timing cannot be resolved."""
MAX_RATE_HZ = 2000.0
"""Highest supported IMU rate (anything above is almost surely a unit mistake)."""


def check_rate(sampling_rate_hz: float) -> float:
    """Return `sampling_rate_hz` as float or raise `SamplingRateError` if absurd."""
    rate = float(sampling_rate_hz)
    if not math.isfinite(rate) or not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise SamplingRateError(
            f"sampling rate {sampling_rate_hz!r} Hz is outside {MIN_RATE_HZ:g}–{MAX_RATE_HZ:g} Hz;"
            " pass the IMU output data rate in Hz (e.g. 204.8)"
        )
    return rate


def seconds_to_samples(
    duration_s: float, sampling_rate_hz: float, *, minimum: int = 1, what: str = "window"
) -> int:
    """Round `duration_s` (s) to a sample count at `sampling_rate_hz` (Hz).

    Raises:
        TooShortError: the count is below `minimum` (the window would be meaningless).
        SamplingRateError: the rate is absurd.
    """
    rate = check_rate(sampling_rate_hz)
    if not math.isfinite(duration_s):
        raise TooShortError(f"{what} duration {duration_s!r} s is not finite")
    n = round(duration_s * rate)
    if n < minimum:
        raise TooShortError(
            f"{what} of {duration_s:g} s is {n} samples at {rate:g} Hz; at least {minimum} needed"
        )
    return int(n)
