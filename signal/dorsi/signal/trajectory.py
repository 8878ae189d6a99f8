"""Strapdown integration of each swing between two mid-stances, with zero-velocity updates.

For every swing: initial attitude from gravity at the mid-stance before toe-off (yaw set to
zero), gyro quaternion integration (body frame, trapezoidal), gravity removal, velocity
integration with a linear drift correction to zero at the mid-stance after contact, then
position. Pitch drift is corrected linearly to the gravity pitch at the end mid-stance.
Frames: body frame in, world frame (z up, x = initial heading) out; docs/frames.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dorsi.signal import quaternion as quat
from dorsi.signal.config import GaitConfig
from dorsi.signal.segmentation import SwingEvents
from dorsi.signal.slap_drag import DRAG_CHORD_HALF_S
from dorsi.signal.units import seconds_to_samples

__all__ = ["SwingKinematics", "integrate_swings"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_CHUNK = 1024  # swings integrated together (bounds memory on day-long input)
_CHUNK_LENGTH_RATIO = 1.3  # a longer swing (a turn, a pause) starts a new chunk: less padding


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class SwingKinematics:
    """One row per swing (same order as `SwingEvents`); angles relative to foot-flat."""

    to_pitch_deg: FloatArray
    """Foot pitch at toe-off, relative to the mid-stance before it."""
    ic_pitch_deg: FloatArray
    """Foot pitch at initial contact, relative to the mid-stance after it."""
    midswing_pitch_deg: FloatArray
    peak_swing_pitch_deg: FloatArray
    stride_length_m: FloatArray
    """Horizontal foot displacement between the two mid-stances."""
    min_toe_clearance_cm: FloatArray
    """Mid-swing minimum of the toe height (NaN when the swing has no such minimum)."""
    heading_change_deg: FloatArray
    """Change of the foot's heading (about world z) over the swing."""
    travel_direction_deg: FloatArray
    """Direction of the foot's displacement relative to its heading at the start mid-stance
    (about world z, > 0 toward the foot's left)."""
    velocity_dip_mps: FloatArray
    """Largest loss of forward foot velocity in swing below the chord joining its values
    `slap_drag.DRAG_CHORD_HALF_S` before and after (toe contact evidence), m/s."""
    pitch_deg: FloatArray
    """Full-length pitch trace relative to the preceding foot-flat (NaN outside swings)."""


def _interp_rows(values: FloatArray, pos: FloatArray) -> FloatArray:
    """Linear interpolation of each row of `values` (m, L) at fractional column `pos` (m,)."""
    lo = np.clip(np.floor(pos).astype(np.int64), 0, values.shape[1] - 2)
    frac = pos - lo
    rows = np.arange(values.shape[0])
    out: FloatArray = values[rows, lo] * (1.0 - frac) + values[rows, lo + 1] * frac
    return out


def _masked_extreme(values: FloatArray, mask: BoolArray, *, largest: bool) -> FloatArray:
    fill = -np.inf if largest else np.inf
    filled = np.where(mask, values, fill)
    out: FloatArray = filled.max(axis=1) if largest else filled.min(axis=1)
    return np.where(np.isfinite(out), out, np.nan)


def integrate_swings(
    acc_mps2: FloatArray,
    gyr_dps: FloatArray,
    events: SwingEvents,
    *,
    sampling_rate_hz: float,
    config: GaitConfig | None = None,
) -> SwingKinematics:
    """Integrate every swing of `events` (body-frame acc in m/s², gyro in deg/s; docs/frames.md)."""
    cfg = config or GaitConfig()
    n = acc_mps2.shape[0]
    count = len(events)
    cols = [np.full(count, np.nan) for _ in range(9)]
    pitch_trace = np.full(n, np.nan)
    window = seconds_to_samples(cfg.gravity_window_s, sampling_rate_hz, minimum=1)
    # Prefix sums give the mean acceleration around any sample in O(1).
    acc_cum = np.vstack((np.zeros((1, 3)), np.cumsum(acc_mps2, axis=0)))
    # Swings of similar duration are integrated together: little padding, bounded memory.
    lengths = events.ms_after_idx - events.ms_before_idx
    order = np.argsort(lengths, kind="stable")
    for c0, c1 in _chunks(lengths[order]):
        sl = order[c0:c1]
        out = _integrate_chunk(
            acc_mps2,
            gyr_dps,
            acc_cum,
            events.ms_before_idx[sl],
            events.ms_after_idx[sl],
            events.to_pos[sl],
            events.ic_pos[sl],
            sampling_rate_hz,
            window,
            cfg,
            pitch_trace,
        )
        for col, values in zip(cols, out, strict=True):
            col[sl] = values
    to_p, ic_p, mid_p, peak_p, length, clearance, heading, dip, travel = cols
    return SwingKinematics(
        to_pitch_deg=to_p,
        ic_pitch_deg=ic_p,
        midswing_pitch_deg=mid_p,
        peak_swing_pitch_deg=peak_p,
        stride_length_m=length,
        min_toe_clearance_cm=clearance,
        heading_change_deg=heading,
        velocity_dip_mps=dip,
        travel_direction_deg=travel,
        pitch_deg=pitch_trace,
    )


def _body_x_in_world(q: FloatArray) -> FloatArray:
    """Body x axis in the world frame (first column of the rotation matrix), (..., 3)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty((*q.shape[:-1], 3))
    out[..., 0] = 1.0 - 2.0 * (y * y + z * z)
    out[..., 1] = 2.0 * (x * y + w * z)
    out[..., 2] = 2.0 * (x * z - w * y)
    return out


def _world_z_of(q: FloatArray, v: FloatArray) -> FloatArray:
    """World z component of the body vector `v` (3,) (third row of the rotation matrix · v)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out: FloatArray = (
        2.0 * (x * z - w * y) * v[0]
        + 2.0 * (y * z + w * x) * v[1]
        + (1.0 - 2.0 * (x * x + y * y)) * v[2]
    )
    return out


def _chunks(sorted_lengths: NDArray[np.int64]) -> list[tuple[int, int]]:
    """[start, stop) ranges of at most `_CHUNK` swings, a new one where a swing is more than
    `_CHUNK_LENGTH_RATIO` × the chunk's shortest (every swing is padded to the longest)."""
    out = []
    c0 = 0
    for i in range(1, sorted_lengths.shape[0] + 1):
        if (
            i == sorted_lengths.shape[0]
            or i - c0 == _CHUNK
            or sorted_lengths[i] > _CHUNK_LENGTH_RATIO * max(int(sorted_lengths[c0]), 1)
        ):
            out.append((c0, i))
            c0 = i
    return out


def _mean_acc(acc_cum: FloatArray, idx: NDArray[np.int64], window: int) -> FloatArray:
    """Mean acceleration over the trailing `window` samples ending at each `idx` (inclusive)."""
    n = acc_cum.shape[0] - 1
    lo = np.clip(idx - window + 1, 0, n - 1)
    hi = np.clip(idx + 1, 1, n)
    out: FloatArray = (acc_cum[hi] - acc_cum[lo]) / (hi - lo)[:, None]
    return out


def _pitch_from_gravity(acc: FloatArray) -> FloatArray:
    """Pitch (deg) of the body x axis above the horizontal, from a still accelerometer."""
    out: FloatArray = np.degrees(np.arcsin(np.clip(acc[:, 0] / np.linalg.norm(acc, axis=1), -1, 1)))
    return out


def _rotvec(q: FloatArray) -> FloatArray:
    """Rotation vectors (rad) of unit quaternions (inverse of `quat.from_rotvec`)."""
    w = np.clip(q[..., :1], -1.0, 1.0)
    xyz = q[..., 1:]
    sin_half = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, w)
    out: FloatArray = np.where(sin_half > 1e-12, xyz * angle / np.maximum(sin_half, 1e-12), 2 * xyz)
    return out


def _integrate_chunk(
    acc_mps2: FloatArray,
    gyr_dps: FloatArray,
    acc_cum: FloatArray,
    start: NDArray[np.int64],
    end: NDArray[np.int64],
    to_pos: FloatArray,
    ic_pos: FloatArray,
    fs: float,
    window: int,
    cfg: GaitConfig,
    pitch_trace: FloatArray,
) -> tuple[FloatArray, ...]:
    dt = 1.0 / fs
    m = start.shape[0]
    length = np.maximum(end - start, 1)
    width = int(length.max()) + 1
    k = np.arange(width)
    valid = k[None, :] <= length[:, None]
    idx = np.minimum(start[:, None] + k[None, :], acc_mps2.shape[0] - 1)
    gyr = np.radians(gyr_dps[idx]) * valid[..., None]
    acc = acc_mps2[idx] * valid[..., None]

    g_start = _mean_acc(acc_cum, start, window)
    g_end = _mean_acc(acc_cum, end, window)
    gravity = np.linalg.norm(g_start, axis=1)
    q0 = quat.from_two_vectors(g_start, np.broadcast_to([0.0, 0.0, 1.0], g_start.shape))
    dq = np.empty((m, width, 4))
    dq[:, 0] = q0
    dq[:, 1:] = quat.from_rotvec(0.5 * (gyr[:, :-1] + gyr[:, 1:]) * dt)
    dq[:, 1:][~valid[:, 1:]] = (1.0, 0.0, 0.0, 0.0)
    q = quat.cumulative_product(dq)

    ramp = np.minimum(k[None, :] / length[:, None], 1.0)
    # Tilt drift: at the end mid-stance the measured gravity must point to world up. Spread
    # the correcting rotation (world frame) linearly over the swing.
    rows = np.arange(m)
    up_end = quat.rotate(q[rows, length], g_end)
    tilt_fix = quat.from_two_vectors(up_end, np.broadcast_to([0.0, 0.0, 1.0], up_end.shape))
    fix_rotvec = _rotvec(tilt_fix)
    q = quat.multiply(quat.from_rotvec(ramp[..., None] * fix_rotvec[:, None, :]), q)

    x_world = _body_x_in_world(q)
    pitch = np.degrees(np.arctan2(x_world[..., 2], np.hypot(x_world[..., 0], x_world[..., 1])))
    flat_start = _pitch_from_gravity(g_start)
    flat_end = _pitch_from_gravity(g_end)

    acc_world = quat.rotate(q, acc)
    acc_world[..., 2] -= gravity[:, None]
    acc_world *= valid[..., None]
    vel = np.empty_like(acc_world)  # not zeros_like: no second pass over the whole batch
    vel[:, 0] = 0.0
    vel[:, 1:] = np.cumsum(0.5 * (acc_world[:, 1:] + acc_world[:, :-1]) * dt, axis=1)
    vel_end = vel[np.arange(m), length]
    vel -= ramp[..., None] * vel_end[:, None, :]
    pos = np.empty_like(vel)
    pos[:, 0] = 0.0
    pos[:, 1:] = np.cumsum(0.5 * (vel[:, 1:] + vel[:, :-1]) * dt, axis=1)
    pos_end = pos[np.arange(m), length]
    stride_length = np.hypot(pos_end[:, 0], pos_end[:, 1])

    to_rel = to_pos - start
    ic_rel = ic_pos - start
    to_pitch = _interp_rows(pitch, to_rel) - flat_start
    ic_pitch = _interp_rows(pitch, ic_rel) - flat_end
    mid_pitch = _interp_rows(pitch, 0.5 * (to_rel + ic_rel)) - flat_start
    in_swing = (k[None, :] >= to_rel[:, None]) & (k[None, :] <= ic_rel[:, None]) & valid
    peak_pitch = _masked_extreme(pitch, in_swing, largest=True) - flat_start

    lever = np.asarray(cfg.toe_lever_arm_m, dtype=np.float64)
    toe_z = pos[..., 2] + _world_z_of(q, lever)
    toe_z -= toe_z[:, :1]
    clearance = _min_toe_clearance(toe_z, to_rel, ic_rel, k) * 100.0

    x_end = x_world[np.arange(m), length]
    heading = np.degrees(np.arctan2(x_end[:, 1], x_end[:, 0]))  # start heading is 0 by design

    rel_pitch = pitch - flat_start[:, None]
    for r in range(m):
        pitch_trace[start[r] : start[r] + length[r] + 1] = rel_pitch[r, : length[r] + 1]
    chord = seconds_to_samples(DRAG_CHORD_HALF_S, fs, what="drag chord")
    dip = _forward_velocity_dip(vel, pos_end, to_rel, ic_rel, k, chord)
    travel = np.degrees(np.arctan2(pos_end[:, 1], pos_end[:, 0]))
    return (
        to_pitch,
        ic_pitch,
        mid_pitch,
        peak_pitch,
        stride_length,
        clearance,
        heading,
        dip,
        travel,
    )


def _forward_velocity_dip(
    vel: FloatArray,
    pos_end: FloatArray,
    to_rel: FloatArray,
    ic_rel: FloatArray,
    k: NDArray[np.int64],
    half: int,
) -> FloatArray:
    """Largest loss of forward velocity below its local chord in swing, m/s (0 if none).

    At each swing sample at least `half` samples from toe-off and contact, the forward velocity
    is compared with the mean of its values `half` samples before and after (the chord): a
    brief toe contact (tens of ms) lies well below the chord, while the swing's own velocity
    curve (changing over hundreds of ms) stays close to or above it.
    """
    direction = pos_end[:, :2] / np.maximum(np.linalg.norm(pos_end[:, :2], axis=1), 1e-6)[:, None]
    v = np.einsum("mkc,mc->mk", vel[..., :2], direction)
    width = v.shape[1]
    if width <= 2 * half:
        return np.zeros(v.shape[0])
    below = np.full_like(v, -np.inf)
    below[:, half:-half] = 0.5 * (v[:, : -2 * half] + v[:, 2 * half :]) - v[:, half:-half]
    inside = (k[None, :] - half >= to_rel[:, None]) & (k[None, :] + half <= ic_rel[:, None])
    loss = np.where(inside, below, -np.inf).max(axis=1)
    out: FloatArray = np.where(np.isfinite(loss), np.maximum(loss, 0.0), 0.0)
    return out


def _min_toe_clearance(
    toe_z: FloatArray, to_rel: FloatArray, ic_rel: FloatArray, k: NDArray[np.int64]
) -> FloatArray:
    """Minimum toe height between the two toe-height peaks of swing (NaN if not a true dip)."""
    mid = 0.5 * (to_rel + ic_rel)
    first = (k[None, :] >= to_rel[:, None]) & (k[None, :] <= mid[:, None])
    second = (k[None, :] > mid[:, None]) & (k[None, :] <= ic_rel[:, None])
    rows = np.arange(toe_z.shape[0])
    p1 = np.argmax(np.where(first, toe_z, -np.inf), axis=1)
    p2 = np.argmax(np.where(second, toe_z, -np.inf), axis=1)
    between = (k[None, :] > p1[:, None]) & (k[None, :] < p2[:, None])
    low = np.where(between, toe_z, np.inf)
    i_min = np.argmin(low, axis=1)
    v_min = low[rows, i_min]
    dip = (
        np.isfinite(v_min)
        & (v_min < toe_z[rows, p1])
        & (v_min < toe_z[rows, p2])
        & (i_min > p1)
        & (i_min < p2)
    )
    return np.where(dip, v_min, np.nan)
