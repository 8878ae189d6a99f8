"""Swing and event detection on synthetic traces whose events are known in advance."""

from __future__ import annotations

import numpy as np
import pytest
from signal_synthetic import synthetic_gait

from dorsi.signal import GaitConfig, TooShortError, analyze
from dorsi.signal.segmentation import detect_swing_events


def test_empty() -> None:
    events = detect_swing_events(np.zeros((0, 3)), sampling_rate_hz=200.0)
    assert len(events) == 0


def test_still_has_no_swings() -> None:
    events = detect_swing_events(np.zeros((2000, 3)), sampling_rate_hz=200.0)
    assert len(events) == 0


@pytest.mark.parametrize("stride_s", [0.9, 1.1, 1.6])
def test_basic_events_at_known_times(stride_s: float) -> None:
    gait = synthetic_gait(8, stride_s=stride_s)
    fs = gait.sampling_rate_hz
    events = detect_swing_events(gait.gyr_dps, sampling_rate_hz=fs)
    assert len(events) == 8
    np.testing.assert_allclose(events.ic_pos / fs, gait.ic_t, atol=1.5 / fs)
    np.testing.assert_allclose(events.to_pos / fs, gait.to_t, atol=2.5 / fs)
    # Mid-stance lies inside the stance, between contact and the next toe-off.
    assert np.all(events.ms_after_idx[:-1] / fs > gait.ic_t[:-1])
    assert np.all(events.ms_after_idx[:-1] / fs < gait.to_t[1:])


def test_swings_too_weak_are_ignored() -> None:
    gait = synthetic_gait(6)
    weak = gait.gyr_dps * 0.1  # ±45 deg/s: fidgeting, not walking
    assert len(detect_swing_events(weak, sampling_rate_hz=gait.sampling_rate_hz)) == 0


def test_analyze_strides_and_bouts() -> None:
    gait = synthetic_gait(8, stride_s=1.2)
    result = analyze(gait.acc_mps2, gait.gyr_dps, sampling_rate_hz=gait.sampling_rate_hz)
    assert len(result.strides) == 7
    assert len(result.bouts) == 1
    assert result.bouts[0].n_strides == 7
    for s in result.strides:
        assert s.stride_time_s == pytest.approx(1.2, abs=0.01)
        assert s.cadence_spm == pytest.approx(100.0, abs=1.0)
        assert s.stance_time_s + s.swing_time_s == pytest.approx(s.stride_time_s)
        assert s.to_t < s.next_ic_t


def test_long_pause_splits_bouts() -> None:
    first = synthetic_gait(5)
    gap = synthetic_gait(0, still_s=2.0)
    second = synthetic_gait(5)
    acc = np.vstack((first.acc_mps2, gap.acc_mps2, second.acc_mps2))
    gyr = np.vstack((first.gyr_dps, gap.gyr_dps, second.gyr_dps))
    result = analyze(acc, gyr, sampling_rate_hz=first.sampling_rate_hz)
    assert [b.n_strides for b in result.bouts] == [4, 4]


def test_raises_when_window_too_short() -> None:
    with pytest.raises(TooShortError, match="mid-stance smoothing"):
        detect_swing_events(
            synthetic_gait(4).gyr_dps,
            sampling_rate_hz=200.0,
            config=GaitConfig(midstance_smoothing_s=0.001),
        )
