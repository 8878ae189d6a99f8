"""Rigid-body kinematics → ideal IMU readings, and small smooth shape functions.

Frames: world x forward (initial walking direction), y left, z up; foot/body frame x toward
the toes, y to the foot's left, z up when flat. Orientation as Euler angles (deg, columns roll,
pitch, yaw) with ``R_world_foot = Rz(yaw) @ Ry(−pitch) @ Rx(roll)``, so pitch > 0 = toes up and a
pure pitch motion reads gyr_y = −d(pitch)/dt.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf

Array = NDArray[np.float64]
G_MPS2 = 9.81
GRAVITY_WORLD_MPS2 = np.array([0.0, 0.0, -G_MPS2])


def smootherstep(u: Array) -> Array:
    """C2-smooth ramp from 0 (u ≤ 0) to 1 (u ≥ 1)."""
    v = np.clip(u, 0.0, 1.0)
    out: Array = v * v * v * (v * (6.0 * v - 15.0) + 10.0)
    return out


def soft_min0(x: Array, eps: float) -> Array:
    """Smooth ``min(0, x)`` with rounding scale ``eps`` (same units as x)."""
    out: Array = -eps * np.logaddexp(0.0, -x / eps)
    return out


def euler_to_matrix(euler_deg: Array) -> Array:
    """``R_world_foot`` (n,3,3) from Euler angles (n,3) = roll, pitch, yaw in deg."""
    r, p, y = np.deg2rad(euler_deg).T
    cr, sr = np.cos(r), np.sin(r)
    cp, sp = np.cos(p), np.sin(p)  # Ry(-pitch): cos(-p) = cp, sin(-p) = -sp
    cy, sy = np.cos(y), np.sin(y)
    m = np.empty((euler_deg.shape[0], 3, 3))
    m[:, 0, 0] = cy * cp
    m[:, 0, 1] = -sy * cr - cy * sp * sr
    m[:, 0, 2] = sy * sr - cy * sp * cr
    m[:, 1, 0] = sy * cp
    m[:, 1, 1] = cy * cr - sy * sp * sr
    m[:, 1, 2] = -cy * sr - sy * sp * cr
    m[:, 2, 0] = sp
    m[:, 2, 1] = cp * sr
    m[:, 2, 2] = cp * cr
    return m


def rotation_xyz(roll_deg: float, pitch_deg: float, yaw_deg: float) -> Array:
    """Right-handed rotation ``Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (3,3); angles in deg."""
    r, p, y = np.deg2rad([roll_deg, pitch_deg, yaw_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    out: Array = rz @ ry @ rx
    return out


def body_rates_dps(euler_deg: Array, dt_s: float) -> Array:
    """Angular velocity in the foot frame (deg/s, (n,3)) from Euler angles sampled every dt_s."""
    rate = np.gradient(euler_deg, dt_s, axis=0)
    r, p = np.deg2rad(euler_deg[:, 0]), np.deg2rad(euler_deg[:, 1])
    dr, dp, dy = rate.T
    cr, sr, cp, sp = np.cos(r), np.sin(r), np.cos(p), np.sin(p)
    return np.stack(
        [dr + sp * dy, -cr * dp + sr * cp * dy, sr * dp + cr * cp * dy],
        axis=1,
    )


def second_difference(x: Array, dt_s: float) -> Array:
    """Second time derivative along axis 0 (3-point stencil; edge rows copied)."""
    out = np.empty_like(x)
    out[1:-1] = (x[2:] - 2.0 * x[1:-1] + x[:-2]) / (dt_s * dt_s)
    out[0], out[-1] = out[1], out[-2]
    return out


def specific_force_mps2(rot: Array, accel_world_mps2: Array) -> Array:
    """Accelerometer reading ``f = Rᵀ (a − g)`` in the foot frame (n,3), g = (0, 0, −9.81)."""
    out: Array = np.einsum("nji,nj->ni", rot, accel_world_mps2 - GRAVITY_WORLD_MPS2)
    return out


def gabor(t: Array, centre_s: float, sigma_s: float, freq_hz: float) -> Array:
    """Gaussian-windowed sine (unit amplitude): a smooth, short vibration burst."""
    u = (t - centre_s) / sigma_s
    out: Array = np.exp(-0.5 * u * u) * np.sin(2.0 * np.pi * freq_hz * (t - centre_s))
    return out


def velocity_dip(t: Array, centre_s: float, sigma_s: float) -> Array:
    """Displacement (per m/s of dip) of a brief Gaussian velocity loss that is made up later.

    The velocity is −exp(−u²/2) around ``centre_s`` plus a 3× wider, later recovery lobe of the
    same area, so the net displacement returns to 0: a deceleration spike, then catch-up.
    """
    root = np.sqrt(np.pi / 2.0)
    s2 = 3.0 * sigma_s
    c2 = centre_s + 4.0 * sigma_s
    loss = sigma_s * root * (1.0 + erf((t - centre_s) / (np.sqrt(2.0) * sigma_s)))
    gain = sigma_s * root * (1.0 + erf((t - c2) / (np.sqrt(2.0) * s2)))
    out: Array = gain - loss
    return out
