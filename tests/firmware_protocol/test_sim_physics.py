"""The simulator is physically consistent: gyro ↔ orientation, accelerometer ↔ position."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt
from scipy.spatial.transform import Rotation

from dorsi.firmware_protocol.sim import simulate
from dorsi.firmware_protocol.sim.kinematics import (
    G_MPS2,
    body_rates_dps,
    euler_to_matrix,
    rotation_xyz,
    second_difference,
    specific_force_mps2,
)


def test_euler_matrix_matches_scipy_and_pitch_sign() -> None:
    rng = np.random.default_rng(3)
    e = rng.uniform(-60, 60, (50, 3))
    ref = Rotation.from_euler("ZYX", np.column_stack([e[:, 2], -e[:, 1], e[:, 0]]), degrees=True)
    np.testing.assert_allclose(euler_to_matrix(e), ref.as_matrix(), atol=1e-12)
    # toes up (pitch > 0) lifts the toes: the foot's x axis points upward in the world
    assert euler_to_matrix(np.array([[0.0, 20.0, 0.0]]))[0, 2, 0] > 0.3


def test_body_rates_pure_pitch_is_minus_gyr_y() -> None:
    dt = 1e-3
    t = np.arange(0, 1, dt)
    pitch = 30 * np.sin(2 * np.pi * t)
    e = np.column_stack([np.zeros_like(t), pitch, np.zeros_like(t)])
    w = body_rates_dps(e, dt)
    np.testing.assert_allclose(w[1:-1, 1], -np.gradient(pitch, dt)[1:-1], atol=1e-9)
    np.testing.assert_allclose(w[:, [0, 2]], 0.0, atol=1e-12)


def test_body_rates_match_rotation_increments() -> None:
    """Angular velocity from Euler rates equals the body-frame rotation between samples."""
    dt = 1e-4
    t = np.arange(0, 0.5, dt)
    e = np.column_stack([20 * np.sin(3 * t), 40 * np.sin(5 * t + 1), 30 * np.cos(2 * t)])
    rot = Rotation.from_matrix(euler_to_matrix(e))
    ref = np.rad2deg((rot[:-1].inv() * rot[1:]).as_rotvec()) / dt  # midpoints
    mid = 0.5 * (body_rates_dps(e, dt)[:-1] + body_rates_dps(e, dt)[1:])
    np.testing.assert_allclose(mid[2:-2], ref[2:-2], atol=0.05)


def test_specific_force_at_rest_and_in_free_fall() -> None:
    rot = euler_to_matrix(np.zeros((3, 3)))
    rest = specific_force_mps2(rot, np.zeros((3, 3)))
    np.testing.assert_allclose(rest, [[0, 0, G_MPS2]] * 3)
    fall = specific_force_mps2(rot, np.tile([0.0, 0.0, -G_MPS2], (3, 1)))
    np.testing.assert_allclose(fall, 0.0, atol=1e-12)
    # foot pitched toes-up by 30°: gravity appears on -x... and +z
    tilted = specific_force_mps2(euler_to_matrix(np.array([[0.0, 30.0, 0.0]])), np.zeros((1, 3)))
    np.testing.assert_allclose(tilted[0], [G_MPS2 * 0.5, 0.0, G_MPS2 * np.cos(np.pi / 6)])


def test_second_difference_of_parabola() -> None:
    t = np.arange(0, 1, 0.01)
    x = np.column_stack([3 * t**2, -(t**2), t])
    np.testing.assert_allclose(second_difference(x, 0.01), [[6.0, -2.0, 0.0]] * t.size, atol=1e-8)


@pytest.mark.parametrize("rate_hz", [104.0, 208.0])
def test_integrated_gyro_reproduces_modelled_pitch(rate_hz: float) -> None:
    """Strapdown integration of the (noise-free, body-frame) gyro follows the model's pitch."""
    rec = simulate("footdrop_mild", seconds=25.0, rate_hz=rate_hz, seed=4, noise=False,
                   keep_kinematics=True)  # fmt: skip
    assert rec.euler_deg is not None
    strides = rec.strides[:8]
    assert len(strides) >= 6
    worst = 0.0
    for s in strides:  # from each initial contact over the whole stride
        i0, i1 = round(s.ic_t * rate_hz), round(s.next_ic_t * rate_hz)
        r0 = Rotation.from_matrix(euler_to_matrix(rec.euler_deg[i0 : i0 + 1]))[0]
        w = np.deg2rad(rec.gyr_dps[i0 : i1 + 1])
        steps = Rotation.from_rotvec(0.5 * (w[1:] + w[:-1]) / rate_hz)
        rots = [r0]
        for step in steps:
            rots.append(rots[-1] * step)
        x_world = Rotation.concatenate(rots).apply([1.0, 0.0, 0.0])
        pitch = np.rad2deg(np.arcsin(x_world[:, 2]))
        worst = max(worst, float(np.max(np.abs(pitch - rec.pitch_deg[i0 : i1 + 1]))))
    assert worst < 1.0, f"integrated pitch deviates by {worst:.2f}°"


def test_specific_force_consistent_with_sensor_position() -> None:
    """acc = Rᵀ(p̈ − g) with p̈ from the sensor's path (both low-passed below the impacts)."""
    rate = 208.0
    rec = simulate("footdrop_severe", seconds=30.0, rate_hz=rate, seed=2, noise=False,
                   keep_kinematics=True)  # fmt: skip
    assert rec.euler_deg is not None
    assert rec.sensor_pos_m is not None
    a_world = second_difference(rec.sensor_pos_m, 1 / rate)
    pred = specific_force_mps2(euler_to_matrix(rec.euler_deg), a_world)
    sos = butter(4, 12.0, fs=rate, output="sos")
    diff = sosfiltfilt(sos, pred - rec.acc_mps2, axis=0)[50:-50]
    signal = sosfiltfilt(sos, rec.acc_mps2, axis=0)[50:-50]
    rms = float(np.sqrt(np.mean(diff**2)))
    assert rms < 0.02 * float(np.std(signal)), rms
    assert float(np.max(np.abs(diff))) < 1.0


@pytest.mark.parametrize("side", ["left", "right"])
def test_at_rest_gravity_on_plus_z(side: str) -> None:
    rec = simulate("healthy", seconds=2.0, rate_hz=104.0, side=side, seed=0, noise=False)
    norm = np.linalg.norm(rec.acc_mps2, axis=1)
    np.testing.assert_allclose(norm, G_MPS2, atol=0.05)
    assert np.all(rec.acc_mps2[:, 2] > 9.7)
    assert np.all(np.abs(rec.gyr_dps) < 3.0)  # postural sway only
    noisy = simulate("healthy", seconds=2.0, rate_hz=104.0, side=side, seed=0)
    assert abs(float(np.mean(np.linalg.norm(noisy.acc_mps2, axis=1))) - G_MPS2) < 0.3


def test_mounting_rotation_preserves_norms_and_rotates() -> None:
    kw = {"seconds": 15.0, "rate_hz": 104.0, "seed": 5, "noise": False}
    body = simulate("footdrop_mild", **kw)  # type: ignore[arg-type]
    mr = (25.0, -20.0, 30.0)
    sensor = simulate("footdrop_mild", mounting_rotation_deg=mr, **kw)  # type: ignore[arg-type]
    for a, b in ((body.acc_mps2, sensor.acc_mps2), (body.gyr_dps, sensor.gyr_dps)):
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1),
                                   rtol=1e-9, atol=1e-9)  # fmt: skip
        assert float(np.max(np.abs(a - b))) > 1.0  # it did rotate
    c = rotation_xyz(*mr)
    np.testing.assert_allclose(sensor.acc_mps2 @ c.T, body.acc_mps2, atol=1e-9)
    np.testing.assert_array_equal(body.pitch_deg, sensor.pitch_deg)


def test_right_foot_mirrors_left() -> None:
    """Same plan, other foot: acc_y, gyr_x, gyr_z flip sign; pitch-related axes do not."""
    kw = {"seconds": 20.0, "rate_hz": 104.0, "seed": 8, "noise": False}
    left = simulate("footdrop_mild", side="left", **kw)  # type: ignore[arg-type]
    right = simulate("footdrop_mild", side="right", **kw)  # type: ignore[arg-type]
    flip = np.array([1.0, -1.0, 1.0])
    np.testing.assert_allclose(right.acc_mps2, left.acc_mps2 * flip, atol=1e-12)
    np.testing.assert_allclose(right.gyr_dps, left.gyr_dps * -flip, atol=1e-12)
    np.testing.assert_array_equal(right.pitch_deg, left.pitch_deg)
    assert right.strides == left.strides
    # swing: the foot of the left leg rolls/turns the other way than the right one
    swing = left.gyr_dps[:, 1] < -200
    assert np.sign(np.mean(left.gyr_dps[swing, 2])) == -np.sign(np.mean(right.gyr_dps[swing, 2]))
