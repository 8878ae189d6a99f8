"""Scenarios give plausible, reproducible stride truth; foot-drop features only where expected."""

from __future__ import annotations

import numpy as np
import pytest

from dorsi.firmware_protocol.sim import SCENARIOS, SimulatedRecording, simulate

FOOT_DROP = ("footdrop_mild", "footdrop_severe")


def _sim(scenario: str, seconds: float = 120.0, seed: int = 0) -> SimulatedRecording:
    return simulate(scenario, seconds=seconds, rate_hz=52.0, seed=seed)


def _col(rec: SimulatedRecording, name: str) -> np.ndarray:
    return np.array([getattr(s, name) for s in rec.strides], dtype=float)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_truth_is_plausible(scenario: str) -> None:
    rec = _sim(scenario, seconds=240.0 if scenario == "mixed_day" else 120.0)
    assert len(rec.strides) >= 10
    st = _col(rec, "stride_time_s")
    assert np.all((st >= 0.9) & (st <= 1.6)), st
    ic, to, nic = _col(rec, "ic_t"), _col(rec, "to_t"), _col(rec, "next_ic_t")
    assert np.all((ic < to) & (to < nic))
    np.testing.assert_allclose(nic - ic, st, atol=1e-9)
    assert np.all(nic <= rec.t[-1])
    length = _col(rec, "stride_length_m")
    assert np.all((length > 0.3) & (length < 1.8))
    assert np.all(_col(rec, "toe_off_angle_deg") < -35)
    # the truth pitch is the modelled pitch at the stated times
    idx = np.round(ic * rec.rate_hz).astype(int)
    near = np.abs(rec.pitch_deg[idx] - _col(rec, "foot_strike_angle_deg"))
    assert np.median(near) < 3.0
    assert set(_col(rec, "slap")) <= {0.0, 1.0}
    assert set(_col(rec, "drag")) <= {0.0, 1.0}


def test_healthy_strides_match_the_real_subject() -> None:
    rec = _sim("healthy", seconds=180.0)
    strike = _col(rec, "foot_strike_angle_deg")
    assert 22.0 <= float(np.median(strike)) <= 30.0  # real recording: 26–28°
    assert np.all((strike > 15.0) & (strike < 35.0))
    assert 1.0 <= float(np.median(_col(rec, "stride_time_s"))) <= 1.2
    assert 1.25 <= float(np.median(_col(rec, "stride_length_m"))) <= 1.5
    assert not any(s.slap or s.drag for s in rec.strides)


@pytest.mark.parametrize(("scenario", "slap_range", "drag_range"), [
    ("footdrop_mild", (0.25, 0.6), (0.05, 0.35)),
    ("footdrop_severe", (0.55, 0.95), (0.3, 0.7)),
])  # fmt: skip
def test_foot_drop_has_stochastic_slap_and_drag(
    scenario: str, slap_range: tuple[float, float], drag_range: tuple[float, float]
) -> None:
    rec = _sim(scenario, seconds=300.0)
    slap, drag = _col(rec, "slap"), _col(rec, "drag")
    assert slap_range[0] <= slap.mean() <= slap_range[1]
    assert drag_range[0] <= drag.mean() <= drag_range[1]
    healthy = _sim("healthy", seconds=300.0)
    # foot drop: lower strike angle, toes-down swing, slower and shorter strides
    for name, sign in (("foot_strike_angle_deg", -1), ("midswing_pitch_deg", -1),
                       ("stride_time_s", 1), ("stride_length_m", -1)):  # fmt: skip
        assert sign * (np.median(_col(rec, name)) - np.median(_col(healthy, name))) > 0, name
    # slaps are heel-first contacts; flat or toe-first contacts exist but do not slap
    strike = _col(rec, "foot_strike_angle_deg")
    assert np.all(strike[slap == 1] > 0)


def test_slap_makes_fast_plantarflexion_and_an_impact() -> None:
    rec = simulate("footdrop_mild", seconds=300.0, rate_hz=208.0, seed=3, noise=False)
    peak_rate, impact = [], []
    for s in rec.strides:
        i = round(s.ic_t * rec.rate_hz)
        win = slice(i, i + round(0.1 * rec.rate_hz))
        peak_rate.append(rec.gyr_dps[win, 1].max())
        impact.append(np.linalg.norm(rec.acc_mps2[win], axis=1).max())
    slap = _col(rec, "slap") == 1
    assert np.median(np.array(peak_rate)[slap]) > 1.3 * np.median(np.array(peak_rate)[~slap])
    assert np.median(np.array(impact)[slap]) > 1.3 * np.median(np.array(impact)[~slap])


def test_drag_makes_deceleration_and_vibration_in_swing() -> None:
    rec = simulate("footdrop_severe", seconds=300.0, rate_hz=208.0, seed=3, noise=False)
    decel, vib = [], []
    for s in rec.strides:
        a, b = round(s.to_t * rec.rate_hz) + 10, round(s.next_ic_t * rec.rate_hz) - 10
        acc = rec.acc_mps2[a:b]
        decel.append(-acc[:, 0].min())
        vib.append(np.abs(np.diff(acc, 2, axis=0)).max())
    drag = _col(rec, "drag") == 1
    assert np.median(np.array(vib)[drag]) > 2.0 * np.median(np.array(vib)[~drag])
    assert np.median(np.array(decel)[drag]) > np.median(np.array(decel)[~drag])


def test_same_seed_same_recording_other_seed_differs() -> None:
    a = simulate("footdrop_mild", seconds=30.0, rate_hz=104.0, seed=11)
    b = simulate("footdrop_mild", seconds=30.0, rate_hz=104.0, seed=11)
    c = simulate("footdrop_mild", seconds=30.0, rate_hz=104.0, seed=12)
    np.testing.assert_array_equal(a.acc_mps2, b.acc_mps2)
    np.testing.assert_array_equal(a.gyr_dps, b.gyr_dps)
    assert a.strides == b.strides
    assert a.strides != c.strides


def test_mixed_day_has_still_sitting_and_brace_off_periods() -> None:
    rec = simulate("mixed_day", seconds=2 * 3600.0, rate_hz=52.0, seed=1)
    assert len(rec.strides) > 50
    acc = rec.acc_mps2.reshape(-1, 52 * 60, 3)  # per minute
    gyr = rec.gyr_dps.reshape(-1, 52 * 60, 3)
    still = np.abs(gyr).max(axis=(1, 2)) < 10
    walking = np.abs(gyr[:, :, 1]).max(axis=1) > 200
    off = np.abs(acc[:, :, 2].mean(axis=1)) < 5  # lying on its side or upside down
    assert still.any()
    assert walking.any()
    assert (off & still).any()  # brace lying still in a non-wearing orientation
    assert (~off & still).any()  # worn, standing or sitting


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"scenario": "jogging"}, "unknown scenario"),
    ({"seconds": 0.0}, "seconds"),
    ({"seconds": float("nan")}, "seconds"),
    ({"rate_hz": 1.0}, "rate_hz"),
    ({"side": "both"}, "side"),
    ({"seed": -1}, "seed"),
    ({"mounting_rotation_deg": (1.0, 2.0)}, "mounting_rotation_deg"),
    ({"mounting_rotation_deg": (0.0, 0.0, 400.0)}, "mounting_rotation_deg"),
])  # fmt: skip
def test_bad_arguments_raise(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"scenario": "healthy", "seconds": 5.0, "rate_hz": 104.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate(**args)  # type: ignore[arg-type]
