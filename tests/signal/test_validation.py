"""Bad input gets a clear typed error or becomes a gap; never a crash or silent garbage."""

from __future__ import annotations

import numpy as np
import pytest
from signal_reference import IMU_RATE_HZ, Recording
from signal_synthetic import synthetic_gait

from dorsi.signal import (
    GaitAnalysis,
    InputShapeError,
    SamplingRateError,
    TooShortError,
    UnitError,
    analyze,
    seconds_to_samples,
)


def test_seconds_to_samples_basic() -> None:
    assert seconds_to_samples(0.5, 204.8) == 102
    assert seconds_to_samples(0.0, 100.0, minimum=0) == 0


def test_seconds_to_samples_raises() -> None:
    with pytest.raises(TooShortError, match="at least 3"):
        seconds_to_samples(0.01, 100.0, minimum=3)
    with pytest.raises(SamplingRateError):
        seconds_to_samples(1.0, 0.0)


def test_empty_input_raises() -> None:
    with pytest.raises(TooShortError):
        analyze(np.zeros((0, 3)), np.zeros((0, 3)), sampling_rate_hz=100.0)


def test_too_short_input_raises() -> None:
    gait = synthetic_gait(1, still_s=0.2)
    with pytest.raises(TooShortError, match="2 s"):
        analyze(gait.acc_mps2[:150], gait.gyr_dps[:150], sampling_rate_hz=200.0)


@pytest.mark.parametrize("rate", [0.0, -100.0, float("nan"), float("inf"), 10.0, 1e6])
def test_absurd_rate_raises(rate: float) -> None:
    gait = synthetic_gait(4)
    with pytest.raises(SamplingRateError, match="Hz"):
        analyze(gait.acc_mps2, gait.gyr_dps, sampling_rate_hz=rate)


def test_shape_errors() -> None:
    with pytest.raises(InputShapeError, match=r"\(n, 3\)"):
        analyze(np.zeros((100, 2)), np.zeros((100, 3)), sampling_rate_hz=100.0)
    with pytest.raises(InputShapeError, match="samples"):
        analyze(np.zeros((100, 3)), np.zeros((99, 3)), sampling_rate_hz=100.0)


def test_gyro_in_rad_per_s_raises(recordings: dict[str, Recording]) -> None:
    rec = recordings["left"]
    with pytest.raises(UnitError, match="rad/s"):
        analyze(rec.acc_mps2, np.radians(rec.gyr_dps), sampling_rate_hz=IMU_RATE_HZ)


def test_acc_in_g_raises(recordings: dict[str, Recording]) -> None:
    rec = recordings["left"]
    with pytest.raises(UnitError, match="g"):
        analyze(rec.acc_mps2 / 9.81, rec.gyr_dps, sampling_rate_hz=IMU_RATE_HZ)


def test_nan_gap_splits_strides(recordings: dict[str, Recording]) -> None:
    """A missing-packet gap (NaN rows) ends the bout: no stride spans it, the rest survive."""
    rec = recordings["right"]
    full = analyze(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=IMU_RATE_HZ)
    acc, gyr = rec.acc_mps2.copy(), rec.gyr_dps.copy()
    gap = slice(2000, 2100)
    acc[gap] = np.nan
    gyr[gap] = np.nan
    gapped = analyze(acc, gyr, sampling_rate_hz=IMU_RATE_HZ)
    t0, t1 = gap.start / IMU_RATE_HZ, gap.stop / IMU_RATE_HZ
    assert all(s.next_ic_t < t0 or s.ic_t > t1 for s in gapped.strides)
    untouched = [s for s in full.strides if s.next_ic_t < t0 - 1.0 or s.ic_t > t1 + 1.0]
    found = {round(s.ic_t, 3) for s in gapped.strides}
    assert all(round(s.ic_t, 3) in found for s in untouched)
    assert len(gapped.bouts) > len(full.bouts)


def test_saturated_gyro_lowers_quality(recordings: dict[str, Recording]) -> None:
    rec = recordings["left"]
    gyr = np.clip(rec.gyr_dps, -300.0, 300.0)  # a ±300 deg/s range clips every swing
    gyr[np.abs(gyr) >= 300.0] *= 2000.0 / 300.0  # …reported at the full-scale value
    result = analyze(rec.acc_mps2, gyr, sampling_rate_hz=IMU_RATE_HZ)
    assert result.strides
    assert max(s.quality for s in result.strides) <= 0.3


def test_stride_cut_by_end_has_no_length(
    recordings: dict[str, Recording], body_analyses: dict[str, GaitAnalysis]
) -> None:
    """A recording ending right after a contact: that stride keeps its timing, not its length."""
    rec = recordings["left"]
    full = body_analyses["left"].strides
    cut_after = full[10]
    stop = int((cut_after.next_ic_t + 0.1) * IMU_RATE_HZ)
    cut = analyze(rec.acc_mps2[:stop], rec.gyr_dps[:stop], sampling_rate_hz=IMU_RATE_HZ)
    last = cut.strides[-1]
    assert last.ic_t == pytest.approx(cut_after.ic_t, abs=2e-3)
    assert np.isnan(last.stride_length_m)
    assert np.isnan(last.gait_speed_mps)
    assert last.quality <= 0.5
    assert cut.strides[-2].stride_length_m == pytest.approx(full[9].stride_length_m, abs=1e-6)
