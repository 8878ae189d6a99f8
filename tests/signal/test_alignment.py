"""Mounting alignment: random mountings up to 30° still meet the accuracy targets."""

from __future__ import annotations

import numpy as np
import pytest
from signal_reference import (
    IMU_RATE_HZ,
    SIDES,
    Recording,
    check_targets,
    compare,
    random_rotation,
)

from dorsi.signal import AlignmentError, analyze, estimate_mounting

MAX_MOUNTING_DEG = 30.0


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1.0) / 2.0, -1.0, 1.0))))


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rotated_recording_meets_targets(
    side: str, seed: int, recordings: dict[str, Recording]
) -> None:
    rec = recordings[side]
    rng = np.random.default_rng(seed + (10 if side == "right" else 0))
    rotation = random_rotation(rng, MAX_MOUNTING_DEG)
    acc, gyr = rec.acc_mps2 @ rotation.T, rec.gyr_dps @ rotation.T
    result = analyze(acc, gyr, sampling_rate_hz=IMU_RATE_HZ, frame="sensor", side=side)
    check_targets(compare(result.strides, rec))
    # The recovered body frame does not depend on how the sensor was clipped on.
    reference = estimate_mounting(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=IMU_RATE_HZ)
    assert result.alignment is not None
    assert angle_between_deg(result.alignment.rotation @ rotation, reference.rotation) < 2.0
    assert result.alignment.confidence > 0.5


@pytest.mark.parametrize("side", SIDES)
def test_basic_estimate_is_a_proper_rotation(side: str, recordings: dict[str, Recording]) -> None:
    rec = recordings[side]
    est = estimate_mounting(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=IMU_RATE_HZ)
    assert np.allclose(est.rotation @ est.rotation.T, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(est.rotation), 1.0)
    # Standing still, the body z axis is gravity: the aligned accelerometer reads (0, 0, +g).
    still = rec.acc_mps2[:100] @ est.rotation.T
    assert np.all(np.abs(still.mean(axis=0)[:2]) < 0.3)
    assert still.mean(axis=0)[2] > 9.0
    assert est.still_s > 1.0
    assert est.walking_s > 5.0


def test_upside_down_sensor_is_recovered(recordings: dict[str, Recording]) -> None:
    """Beyond ±30°: a sensor flipped 180° about x still gives the same body frame."""
    rec = recordings["left"]
    flip = np.diag([1.0, -1.0, -1.0])
    base = estimate_mounting(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=IMU_RATE_HZ)
    est = estimate_mounting(
        rec.acc_mps2 @ flip.T, rec.gyr_dps @ flip.T, sampling_rate_hz=IMU_RATE_HZ
    )
    assert angle_between_deg(est.rotation @ flip, base.rotation) < 2.0


def test_empty() -> None:
    with pytest.raises(AlignmentError):
        estimate_mounting(np.zeros((0, 3)), np.zeros((0, 3)), sampling_rate_hz=100.0)


def test_raises_without_walking() -> None:
    acc = np.tile([0.0, 0.0, 9.81], (1000, 1))
    with pytest.raises(AlignmentError, match="walking"):
        estimate_mounting(acc, np.zeros((1000, 3)), sampling_rate_hz=100.0)


def test_raises_without_still_periods() -> None:
    rng = np.random.default_rng(0)
    acc = rng.normal(0.0, 5.0, (1000, 3)) + np.array([0.0, 0.0, 9.81])
    gyr = rng.normal(0.0, 200.0, (1000, 3))
    with pytest.raises(AlignmentError, match="still"):
        estimate_mounting(acc, gyr, sampling_rate_hz=100.0)
