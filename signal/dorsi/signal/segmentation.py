"""Swing detection and gait events (IC, TO, mid-stance) from the body-frame gyro.

Frames and signs: docs/frames.md. In the body frame gyr_y = −d(pitch)/dt: it is strongly negative
through mid-swing (toes rising relative to the heel as the foot swings), crosses zero upward at
initial contact (the heel lands and the foot starts to plantarflex onto the ground) and falls
steeply from the push-off peak at toe-off (the toe leaves the ground, the foot starts to dorsiflex).

Definitions (validated against motion capture, docs/signal_status.md):
- swing: a trough of low-passed gyr_y below −`swing_min_dps`;
- IC: first upward zero crossing of gyr_y after the swing trough (foot pitch is at its maximum),
  or an earlier local maximum of gyr_y near zero (toe-first or flat landing: no crossing);
- TO: steepest fall of gyr_y between the push-off peak and the swing trough (lags mocap TO by
  ≈ 11 ms on both feet; see docs/signal_status.md for the onset alternative);
- mid-stance: minimum of the smoothed gyro energy in the stance next to the swing (zero velocity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from dorsi.signal.config import GaitConfig
from dorsi.signal.filters import zero_phase_lowpass
from dorsi.signal.units import seconds_to_samples

__all__ = ["SwingEvents", "detect_swing_events"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class SwingEvents:
    """One row per detected swing; positions are sample indices (fractional where interpolated)."""

    to_pos: FloatArray
    """Toe-off before the swing (fractional sample)."""
    midswing_idx: IntArray
    """Trough of low-passed gyr_y (sample)."""
    ic_pos: FloatArray
    """Initial contact ending the swing (fractional sample)."""
    ms_before_idx: IntArray
    """Mid-stance (zero-velocity sample) before toe-off."""
    ms_after_idx: IntArray
    """Mid-stance after initial contact."""

    def __len__(self) -> int:
        return int(self.to_pos.shape[0])

    @classmethod
    def empty(cls) -> SwingEvents:
        f = np.zeros(0, dtype=np.float64)
        i = np.zeros(0, dtype=np.int64)
        return cls(f, i, f.copy(), i.copy(), i.copy())


def _first_up_crossing(g: FloatArray, ups: IntArray, start: int, limit: int) -> float:
    """Fractional position of the first upward zero crossing in [start, limit), or NaN."""
    k = int(np.searchsorted(ups, start))
    if k >= ups.shape[0] or ups[k] >= limit:
        return float("nan")
    i = int(ups[k])
    return i + float(-g[i] / (g[i + 1] - g[i]))


def _toe_first_contact(
    g: FloatArray, trough: int, crossing: float, limit: int, level: float
) -> float:
    """Earlier contact without a zero crossing (toe-first or flat landing), else `crossing`.

    Landing on the toes or flat, the foot keeps rotating toes-up (heel coming down), so gyr_y
    does not cross zero; the impact shows as a local maximum of gyr_y close to zero. The first
    local maximum above `level` (a fraction of the swing trough, deg/s) before the crossing wins.
    """
    end = limit if np.isnan(crossing) else int(np.floor(crossing))
    seg = g[trough : end + 1]
    if seg.shape[0] < 3:
        return crossing
    peaks = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:]) & (seg[1:-1] >= level))
    if peaks.size == 0:
        return crossing
    return float(trough + int(peaks[0]) + 1)


def _toe_off(g: FloatArray, lo: int, trough: int) -> float:
    """Steepest fall of `g` between the push-off peak in [lo, trough] and the trough."""
    peak = lo + int(g[lo : trough + 1].argmax())  # methods, not np.*: called once per swing
    if trough - peak < 1:
        return float("nan")
    fall = g[peak : trough + 1]
    return peak + int((fall[1:] - fall[:-1]).argmin()) + 0.5


def detect_swing_events(
    gyr_dps: FloatArray, *, sampling_rate_hz: float, config: GaitConfig | None = None
) -> SwingEvents:
    """Find every swing with its toe-off, initial contact and the mid-stances around it.

    Args:
        gyr_dps: (n, 3) gyro in the body frame, deg/s (docs/frames.md).
        sampling_rate_hz: sampling rate, Hz.
        config: analysis settings.

    Returns:
        `SwingEvents`, empty when no complete swing is present. NaN samples must be removed
        beforehand (the pipeline splits the recording at gaps).
    """
    cfg = config or GaitConfig()
    fs = sampling_rate_hz
    n = gyr_dps.shape[0]
    if n < seconds_to_samples(2 * cfg.event_search_s, fs, what="input"):
        return SwingEvents.empty()
    gy_slow = zero_phase_lowpass(gyr_dps[:, 1], cfg.swing_lowpass_hz, fs)
    gy = zero_phase_lowpass(gyr_dps[:, 1], cfg.event_lowpass_hz, fs)
    troughs, _ = find_peaks(
        -gy_slow,
        height=cfg.swing_min_dps,
        prominence=cfg.swing_prominence_dps,
        distance=seconds_to_samples(cfg.min_step_interval_s, fs, what="step interval"),
    )
    search = seconds_to_samples(cfg.event_search_s, fs, minimum=3, what="event search")
    ups = np.flatnonzero((gy[:-1] < 0.0) & (gy[1:] >= 0.0)).astype(np.int64)
    to_list: list[float] = []
    ic_list: list[float] = []
    mid_list: list[int] = []
    for m in troughs:
        limit = min(int(m) + search, n - 1)
        ic = _first_up_crossing(gy, ups, int(m), limit)
        ic = _toe_first_contact(gy, int(m), ic, limit, cfg.contact_peak_fraction * gy_slow[m])
        to = _toe_off(gy, max(int(m) - search, 0), int(m))
        if np.isnan(ic) or np.isnan(to):
            continue
        if to_list and to <= ic_list[-1]:
            continue  # overlaps the previous swing: not a new step
        to_list.append(to)
        ic_list.append(ic)
        mid_list.append(int(m))
    if not to_list:
        return SwingEvents.empty()
    to_pos = np.asarray(to_list)
    ic_pos = np.asarray(ic_list)
    ms_before, ms_after = _midstances(gyr_dps, to_pos, ic_pos, fs, cfg)
    return SwingEvents(
        to_pos=to_pos,
        midswing_idx=np.asarray(mid_list, dtype=np.int64),
        ic_pos=ic_pos,
        ms_before_idx=ms_before,
        ms_after_idx=ms_after,
    )


def _midstances(
    gyr_dps: FloatArray, to_pos: FloatArray, ic_pos: FloatArray, fs: float, cfg: GaitConfig
) -> tuple[IntArray, IntArray]:
    """End of the stillest trailing gyro-energy window in the stance before each toe-off and
    after each contact (causal: no sample after the returned instant is used)."""
    n = gyr_dps.shape[0]
    win = seconds_to_samples(cfg.midstance_smoothing_s, fs, what="mid-stance smoothing")
    # origin (win - 1) // 2 turns the centred moving average into a trailing one: [k - win + 1, k].
    energy = uniform_filter1d(
        np.einsum("ij,ij->i", gyr_dps, gyr_dps), win, mode="nearest", origin=(win - 1) // 2
    )
    reach = seconds_to_samples(cfg.max_stance_window_s, fs, what="stance window")
    reach_after = seconds_to_samples(cfg.midstance_after_ic_s, fs, what="stance window")
    count = to_pos.shape[0]
    before = np.empty(count, dtype=np.int64)
    after = np.empty(count, dtype=np.int64)
    for j in range(count):
        to = int(np.floor(to_pos[j]))
        lo = to - reach if j == 0 else max(int(np.ceil(ic_pos[j - 1])), to - reach)
        lo = max(lo, 0)
        before[j] = lo + int(np.argmin(energy[lo : to + 1])) if to > lo else max(to, 0)
        ic = int(np.ceil(ic_pos[j]))
        hi = ic + reach_after
        if j < count - 1:
            hi = min(int(np.floor(to_pos[j + 1])), hi)
        hi = min(hi, n - 1)
        after[j] = ic + int(np.argmin(energy[ic : hi + 1])) if hi > ic else min(ic, n - 1)
    return before, after
