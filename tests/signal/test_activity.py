"""Activity per minute on a constructed day whose every minute is known in advance."""

from __future__ import annotations

import numpy as np
import pytest
from signal_reference import IMU_RATE_HZ, Recording

from dorsi.signal import STRIDE_FIELDS, analyze
from dorsi.signal.activity import Activity, classify_activity

FS = IMU_RATE_HZ
MINUTE = int(60 * FS)


def _still(up: tuple[float, float, float], sway_dps: float, rng: np.random.Generator) -> tuple:
    """One minute resting with gravity along `up` (body frame), sway amplitude in deg/s."""
    t = np.arange(MINUTE) / FS
    acc = np.tile(np.asarray(up) * 9.81, (MINUTE, 1)) + rng.normal(0, 0.02, (MINUTE, 3))
    gyr = rng.normal(0, 0.1, (MINUTE, 3)) + np.array([0.4, -0.3, 0.2])  # noise and bias
    for axis, f_hz in enumerate((0.2, 0.35, 0.5)):
        gyr[:, axis] += sway_dps * np.sin(2 * np.pi * f_hz * t + axis)
    return acc, gyr


def _walking_minute(rec: Recording, rng: np.random.Generator) -> tuple:
    """The real recording (≈ 39 s: stand, walk, turn, walk, stand) padded with standing."""
    pad_acc, pad_gyr = _still((0.0, 0.0, 1.0), 1.0, rng)
    n = MINUTE - rec.acc_mps2.shape[0]
    return np.vstack((rec.acc_mps2, pad_acc[:n])), np.vstack((rec.gyr_dps, pad_gyr[:n]))


@pytest.fixture(scope="module")
def day(recordings: dict[str, Recording]) -> tuple[np.ndarray, np.ndarray, list[Activity]]:
    rng = np.random.default_rng(5)
    plan = [
        (_still((0.0, 1.0, 0.0), 0.0, rng), Activity.NOT_WORN),  # on its side on a shelf
        (_still((0.0, 0.0, 1.0), 0.0, rng), Activity.NOT_WORN),  # flat, no motion at all
        (_still((0.0, 0.0, -1.0), 0.0, rng), Activity.NOT_WORN),  # upside down
        (_still((0.0, 0.0, 1.0), 1.5, rng), Activity.WORN_STILL),  # sitting, foot on floor
        (_walking_minute(recordings["left"], rng), Activity.WALKING),
        (_still((0.26, 0.0, 0.97), 0.6, rng), Activity.WORN_STILL),  # standing, toes a bit up
        (_walking_minute(recordings["right"], rng), Activity.WALKING),
    ]
    acc = np.vstack([p[0][0] for p in plan])
    gyr = np.vstack([p[0][1] for p in plan])
    return acc, gyr, [p[1] for p in plan]


def test_basic_day_minutes(day: tuple[np.ndarray, np.ndarray, list[Activity]]) -> None:
    acc, gyr, expected = day
    strides = analyze(acc, gyr, sampling_rate_hz=FS).strides
    summary = classify_activity(acc, gyr, strides, sampling_rate_hz=FS)
    assert [m.state for m in summary.minutes] == expected
    assert summary.worn_s == pytest.approx(4 * 60.0, abs=1.0)
    walking = [m.walking_s for m in summary.minutes if m.state is Activity.WALKING]
    assert all(25.0 < w < 40.0 for w in walking)


def test_empty() -> None:
    summary = classify_activity(np.zeros((0, 3)), np.zeros((0, 3)), [], sampling_rate_hz=100.0)
    assert summary.minutes == ()
    assert summary.worn_s == 0.0


def test_gap_minute_is_unknown() -> None:
    acc = np.full((6000, 3), np.nan)
    summary = classify_activity(acc, acc.copy(), [], sampling_rate_hz=100.0)
    assert [m.state for m in summary.minutes] == [Activity.UNKNOWN]


def test_raises_on_too_short_window() -> None:
    from dorsi.signal import TooShortError

    with pytest.raises(TooShortError, match="activity window"):
        classify_activity(
            np.zeros((10, 3)), np.zeros((10, 3)), [], sampling_rate_hz=100.0, minute_s=0.001
        )


def test_blocked_analysis_matches_unblocked(
    day: tuple[np.ndarray, np.ndarray, list[Activity]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long recordings are analysed in blocks cut in still stretches: same strides."""
    from dorsi.signal import pipeline

    acc, gyr, _ = day
    whole = analyze(acc, gyr, sampling_rate_hz=FS)
    fractions: list[float] = []
    monkeypatch.setattr(pipeline, "BLOCK_S", 30.0)
    blocked = analyze(acc, gyr, sampling_rate_hz=FS, progress=fractions.append)
    assert len(fractions) > 3
    assert fractions[-1] == pytest.approx(1.0)
    assert len(blocked.strides) == len(whole.strides)
    for a, b in zip(blocked.strides, whole.strides, strict=True):  # equal up to rounding
        for name in STRIDE_FIELDS:
            assert getattr(a, name) == pytest.approx(getattr(b, name), abs=1e-9, nan_ok=True)
