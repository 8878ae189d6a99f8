"""Butterworth low-pass helpers (SOS form)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.signal import butter, sosfiltfilt

__all__ = ["lowpass_sos", "zero_phase_lowpass"]

FloatArray = NDArray[np.float64]


def lowpass_sos(cutoff_hz: float, sampling_rate_hz: float, *, order: int = 2) -> FloatArray:
    """Second-order-sections Butterworth low-pass; cut-off clipped below Nyquist."""
    nyquist_hz = 0.5 * sampling_rate_hz
    # scipy's sosfilt needs a writable array: hand out a copy of the cached design.
    return _butter_sos(order, min(cutoff_hz, 0.9 * nyquist_hz), sampling_rate_hz).copy()


@lru_cache(maxsize=64)
def _butter_sos(order: int, cutoff_hz: float, sampling_rate_hz: float) -> FloatArray:
    """Filter design is ~1 ms, many times the filtering of a short run: designed once, read-only."""
    sos: FloatArray = butter(order, cutoff_hz, btype="low", fs=sampling_rate_hz, output="sos")
    sos.setflags(write=False)
    return sos


def zero_phase_lowpass(
    x: FloatArray, cutoff_hz: float, sampling_rate_hz: float, *, order: int = 2
) -> FloatArray:
    """Forward-backward low-pass along axis 0 (no phase lag; batch only)."""
    sos = lowpass_sos(cutoff_hz, sampling_rate_hz, order=order)
    padlen = min(3 * (2 * sos.shape[0] + 1), x.shape[0] - 1)
    out: FloatArray = sosfiltfilt(sos, x, axis=0, padlen=padlen)
    return out
