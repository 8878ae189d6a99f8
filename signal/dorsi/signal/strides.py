"""Strides from one gap-free run of body-frame samples, and their causal sequencing.

Shared by the batch pipeline and the streaming analyzer so that both give the same strides.
Frames and signs: docs/frames.md.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from dorsi.signal.config import GaitConfig
from dorsi.signal.filters import zero_phase_lowpass
from dorsi.signal.metrics import StrideMetrics
from dorsi.signal.segmentation import detect_swing_events
from dorsi.signal.slap_drag import drag_score, loading_response, slap_score
from dorsi.signal.trajectory import integrate_swings
from dorsi.signal.units import seconds_to_samples
from dorsi.signal.validation import GYRO_SATURATION_DPS

__all__ = ["RunResult", "StrideSequencer", "strides_in_run"]

FloatArray = NDArray[np.float64]

CLIPPED_QUALITY = 0.3
"""Quality ceiling of a stride containing clipped (saturated) gyro samples."""
CUT_QUALITY = 0.5
"""Quality factor of a stride whose closing mid-stance was cut off by a gap or the end."""
TURN_QUALITY = 0.7
"""Quality factor of a turning stride (metrics of turns are less comparable)."""
TYPICAL_HISTORY = 10
"""Stride times remembered to judge whether a stride is typical."""


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class RunResult:
    strides: list[StrideMetrics]
    """Strides with `bout` = −1 and `quality` reflecting only the signal (see `StrideSequencer`)."""
    pitch_deg: FloatArray


def strides_in_run(
    acc_mps2: FloatArray,
    gyr_dps: FloatArray,
    *,
    sampling_rate_hz: float,
    t0_s: float,
    config: GaitConfig,
) -> RunResult:
    """Detect, integrate and measure every stride of a gap-free body-frame run."""
    fs = sampling_rate_hz
    cfg = config
    ev = detect_swing_events(gyr_dps, sampling_rate_hz=fs, config=cfg)
    kin = integrate_swings(acc_mps2, gyr_dps, ev, sampling_rate_hz=fs, config=cfg)
    gy = zero_phase_lowpass(gyr_dps[:, 1], cfg.event_lowpass_hz, fs) if len(ev) else gyr_dps[:, 1]
    peak, loading = loading_response(gy, ev.ic_pos, sampling_rate_hz=fs)
    slap, slapped = slap_score(peak, loading, kin.ic_pitch_deg)
    drag, dragged = drag_score(kin.velocity_dip_mps)
    # Per column: `np.any(..., axis=1)` over 3 values per row is ~3x slower on long input.
    saturated = np.abs(gyr_dps[:, 0]) >= GYRO_SATURATION_DPS
    for col in (gyr_dps[:, 1], gyr_dps[:, 2]):
        saturated |= np.abs(col) >= GYRO_SATURATION_DPS
    sat_cum = np.concatenate(([0], np.cumsum(saturated)))
    # The mid-stance after the last contact must lie inside the run (not cut off by its end),
    # else the zero-velocity update lands on a moving foot: no length, speed or drag then.
    after_n = seconds_to_samples(cfg.midstance_after_ic_s, fs, what="stance window")
    run_end = gyr_dps.shape[0] - 1
    out: list[StrideMetrics] = []
    for j in range(len(ev) - 1):
        ic, to, nic = ev.ic_pos[j], ev.to_pos[j + 1], ev.ic_pos[j + 1]
        stride_time = (nic - ic) / fs
        if not (cfg.min_stride_time_s <= stride_time <= cfg.max_stride_time_s and ic < to):
            continue
        clipped = sat_cum[min(int(np.ceil(nic)) + 1, sat_cum.shape[0] - 1)] > sat_cum[int(ic)]
        complete = int(np.ceil(nic)) + after_n <= run_end
        length = float(kin.stride_length_m[j + 1]) if complete else float("nan")
        quality = (CLIPPED_QUALITY if clipped else 1.0) * (1.0 if complete else CUT_QUALITY)
        out.append(
            StrideMetrics(
                ic_t=t0_s + ic / fs,
                to_t=t0_s + to / fs,
                next_ic_t=t0_s + nic / fs,
                stride_time_s=stride_time,
                stance_time_s=(to - ic) / fs,
                swing_time_s=(nic - to) / fs,
                cadence_spm=120.0 / stride_time,
                stride_length_m=length,
                gait_speed_mps=length / stride_time,
                foot_strike_angle_deg=float(kin.ic_pitch_deg[j]),
                toe_off_angle_deg=float(kin.to_pitch_deg[j + 1]),
                midswing_pitch_deg=float(kin.midswing_pitch_deg[j + 1]),
                peak_swing_pitch_deg=float(kin.peak_swing_pitch_deg[j + 1]),
                min_toe_clearance_cm=float(kin.min_toe_clearance_cm[j + 1])
                if complete
                else float("nan"),
                foot_slap=int(slapped[j]),
                slap_score=float(slap[j]),
                toe_drag=int(dragged[j + 1]) if complete else 0,
                drag_score=float(drag[j + 1]) if complete else float("nan"),
                turn=int(abs(kin.heading_change_deg[j + 1]) > cfg.turn_heading_deg),
                bout=-1,
                quality=quality,
            )
        )
    return RunResult(strides=out, pitch_deg=kin.pitch_deg)


class StrideSequencer:
    """Numbers walking bouts and finalises `quality`, looking only at earlier strides.

    A stride starts a new bout unless its `ic_t` is the previous stride's `next_ic_t`.
    Quality is lowered when the stride time departs from the median of the last
    `TYPICAL_HISTORY` strides (linearly to 0 at ±50 %), for turns, and for clipped samples.
    """

    def __init__(self, *, sampling_rate_hz: float) -> None:
        self._tolerance_s = 2.0 / sampling_rate_hz
        self._last: StrideMetrics | None = None
        self._bout = -1
        self._times: deque[float] = deque(maxlen=TYPICAL_HISTORY)

    def add(self, stride: StrideMetrics) -> StrideMetrics:
        last = self._last
        if last is None or abs(stride.ic_t - last.next_ic_t) > self._tolerance_s:
            self._bout += 1
        typical = 1.0
        if len(self._times) >= 3:
            median = statistics.median(self._times)  # 10 floats: ~20x faster than np.median
            typical = max(0.0, 1.0 - abs(stride.stride_time_s / median - 1.0) / 0.5)
        self._times.append(stride.stride_time_s)
        quality = stride.quality * typical * (TURN_QUALITY if stride.turn else 1.0)
        out = replace(stride, bout=self._bout, quality=round(quality, 3))
        self._last = out
        return out
