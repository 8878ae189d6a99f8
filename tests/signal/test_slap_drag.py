"""Foot slap and toe drag: known-answer unit tests, the healthy real recording, the simulator."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from signal_reference import SIDES

from dorsi.signal import GaitAnalysis, analyze
from dorsi.signal.slap_drag import DRAG_CHORD_HALF_S, drag_score, loading_response, slap_score
from dorsi.signal.trajectory import _forward_velocity_dip
from dorsi.signal.units import seconds_to_samples

F1_TARGET = 0.9
HEALTHY_FLAG_RATE_MAX = 0.02


def test_empty() -> None:
    score, flag = slap_score(np.zeros(0), np.zeros(0), np.zeros(0))
    assert score.shape == flag.shape == (0,)
    assert drag_score(np.zeros(0))[0].shape == (0,)


def test_basic_slap_scores() -> None:
    # healthy heel strike / slap / flat contact with a fast drop / missing feature
    peak = np.array([300.0, 350.0, 300.0, np.nan])
    loading = np.array([0.13, 0.045, 0.04, 0.1])
    strike = np.array([25.0, 10.0, 0.5, 20.0])
    score, flag = slap_score(peak, loading, strike)
    assert score[0] == pytest.approx(0.0)
    assert score[1] == pytest.approx(1.0)
    assert flag.tolist() == [0, 1, 0, 0]
    assert np.isnan(score[3])


def test_basic_drag_scores() -> None:
    score, flag = drag_score(np.array([0.0, 0.05, 0.5, np.nan]))
    assert score[:3].tolist() == [0.0, 0.0, 1.0]
    assert flag.tolist() == [0, 0, 1, 0]


@pytest.mark.parametrize("rate_hz", [52.0, 104.0, 208.0])
def test_velocity_loss_is_measured_against_the_chord(rate_hz: float) -> None:
    """A 0.6 m/s, 18 ms toe-contact loss while the foot speeds up at 20 m/s² reads ≈ 0.6 m/s at
    any rate (a drop below the running maximum reads ≈ 0 here); the swing alone (rising at
    20 m/s², peaking, falling) reads 0."""
    fs = rate_hz
    t = np.arange(int(0.5 * fs) + 1) / fs  # one swing, toe-off at 0, contact at 0.5 s
    swing = 1.0 + 20.0 * np.minimum(t, 0.5 - t)  # forward velocity, m/s
    loss = 0.6 * np.exp(-0.5 * ((t - 0.15) / 0.018) ** 2)
    half = seconds_to_samples(DRAG_CHORD_HALF_S, fs)
    k = np.arange(t.size)
    edges = np.array([0.0]), np.array([t.size - 1.0])
    readings = []
    for v in (swing, swing - loss):
        vel = np.zeros((1, t.size, 3))
        vel[0, :, 0] = v
        readings.append(_forward_velocity_dip(vel, np.array([[1.0, 0.0, 0.0]]), *edges, k, half))
    assert readings[0][0] < 1e-9
    # sampling can miss the centre of an 18 ms loss at 52 Hz (19 ms period): ≥ 0.75 of it
    assert 0.45 <= readings[1][0] <= 0.65


def test_loading_response_on_a_known_pulse() -> None:
    fs = 200.0
    gy = np.zeros(400)
    gy[100:120] = 300.0 * np.sin(np.pi * np.arange(20) / 20)  # 0.1 s plantarflexion pulse
    peak, loading = loading_response(gy, np.array([100.0]), sampling_rate_hz=fs)
    assert peak[0] == pytest.approx(300.0, rel=0.01)
    assert 0.08 <= loading[0] <= 0.1


@pytest.mark.parametrize("side", SIDES)
def test_healthy_recording_has_no_slap_or_drag(
    side: str, body_analyses: dict[str, GaitAnalysis]
) -> None:
    strides = body_analyses[side].strides
    assert not any(s.foot_slap for s in strides)
    assert not any(s.toe_drag for s in strides)


def _simulate() -> Any:
    try:
        sim = importlib.import_module("dorsi.firmware_protocol.sim")
    except ImportError as exc:  # the simulator ships in firmware_protocol
        pytest.skip(f"simulator not available: {exc}")
    return sim.simulate


def _confusion(scenario: str, rate_hz: float, seed: int) -> tuple[dict[str, list[int]], int]:
    rec = _simulate()(scenario, seconds=90.0, rate_hz=rate_hz, seed=seed)
    result = analyze(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=rec.rate_hz)
    truth_ic = np.array([t.ic_t for t in rec.strides])
    counts = {"slap": [0, 0, 0], "drag": [0, 0, 0]}  # tp, fp, fn
    n = 0
    for s in result.strides:
        j = int(np.argmin(np.abs(truth_ic - s.ic_t)))
        if abs(truth_ic[j] - s.ic_t) > 0.1:
            continue
        n += 1
        truth = rec.strides[j]
        for name, pred, true in (
            ("slap", s.foot_slap, truth.slap),
            ("drag", s.toe_drag, truth.drag),
        ):
            if pred or true:
                counts[name][0 if pred and true else 1 if pred else 2] += 1
    return counts, n


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / max(2 * tp + fp + fn, 1)


SIM_RATES_HZ = (52.0, 104.0, 208.0)


@pytest.mark.slow
@pytest.mark.parametrize("rate_hz", SIM_RATES_HZ)
@pytest.mark.parametrize("scenario", ["footdrop_mild", "footdrop_severe"])
def test_simulated_foot_drop_f1(scenario: str, rate_hz: float) -> None:
    """Slap and drag F1 ≥ 0.9 at every supported sampling rate (seed not used for design)."""
    counts, n = _confusion(scenario, rate_hz, seed=101)
    assert n > 40
    assert counts["slap"][0] > 0
    assert counts["drag"][0] > 0
    assert _f1(*counts["slap"]) >= F1_TARGET, counts
    assert _f1(*counts["drag"]) >= F1_TARGET, counts


@pytest.mark.slow
@pytest.mark.parametrize("rate_hz", SIM_RATES_HZ)
def test_simulated_healthy_is_rarely_flagged(rate_hz: float) -> None:
    counts, n = _confusion("healthy", rate_hz, seed=102)
    assert n > 40
    assert counts["slap"][1] / n <= HEALTHY_FLAG_RATE_MAX
    assert counts["drag"][1] / n <= HEALTHY_FLAG_RATE_MAX


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "side"), [("footdrop_severe", "left"), ("footdrop_mild", "right")]
)
def test_simulated_foot_drop_in_sensor_frame(scenario: str, side: str) -> None:
    """Arbitrary mounting (≤ 30° per axis), either foot, toe-first and flat contacts included."""
    rec = _simulate()(
        scenario, seconds=60.0, rate_hz=104.0, seed=103, side=side,
        mounting_rotation_deg=(20.0, -25.0, 28.0),
    )  # fmt: skip
    result = analyze(
        rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=rec.rate_hz, frame="sensor", side=side
    )
    truth_ic = np.array([t.ic_t for t in rec.strides])
    matched = 0
    for s in result.strides:
        j = int(np.argmin(np.abs(truth_ic - s.ic_t)))
        truth = rec.strides[j]
        if abs(truth.ic_t - s.ic_t) < 0.03 and abs(truth.next_ic_t - s.next_ic_t) < 0.03:
            matched += 1
            assert s.foot_strike_angle_deg == pytest.approx(truth.foot_strike_angle_deg, abs=2.5)
            assert s.foot_slap == truth.slap
    assert matched >= 0.9 * len(rec.strides)
