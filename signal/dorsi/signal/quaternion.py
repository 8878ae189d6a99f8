"""Unit-quaternion helpers, scalar first ``(w, x, y, z)``, vectorised over leading axes.

A quaternion ``q`` maps body-frame vectors to the world frame: ``v_world = q ⊗ v_body ⊗ q*``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "cumulative_product",
    "from_rotvec",
    "from_two_vectors",
    "multiply",
    "rotate",
    "to_matrix",
]

FloatArray = NDArray[np.float64]
_SEQUENTIAL_MIN_BATCH = 256


def _norm(x: FloatArray) -> FloatArray:
    """Euclidean norm over the last axis, kept as a length-1 axis (faster than linalg.norm)."""
    out: FloatArray = np.sqrt(np.einsum("...i,...i->...", x, x))[..., None]
    return out


def multiply(a: FloatArray, b: FloatArray) -> FloatArray:
    """Hamilton product ``a ⊗ b`` (broadcasting over leading axes)."""
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.float64)
    out[..., 0] = aw * bw - ax * bx - ay * by - az * bz
    out[..., 1] = aw * bx + ax * bw + ay * bz - az * by
    out[..., 2] = aw * by - ax * bz + ay * bw + az * bx
    out[..., 3] = aw * bz + ax * by - ay * bx + az * bw
    return out


def from_rotvec(rotvec_rad: FloatArray) -> FloatArray:
    """Quaternion of a rotation vector (axis × angle, rad)."""
    angle = _norm(rotvec_rad)
    half = 0.5 * angle
    # sin(x/2)/x, with its limit 1/2 at x → 0
    scale = np.where(angle > 1e-12, np.sin(half) / np.where(angle > 1e-12, angle, 1.0), 0.5)
    return np.concatenate((np.cos(half), rotvec_rad * scale), axis=-1)


def from_two_vectors(a: FloatArray, b: FloatArray) -> FloatArray:
    """Smallest rotation taking the direction of `a` onto the direction of `b`."""
    a_n = a / _norm(a)
    b_n = b / _norm(b)
    w = 1.0 + np.sum(a_n * b_n, axis=-1, keepdims=True)
    xyz = _cross(a_n, b_n)
    q: FloatArray = np.concatenate((w, xyz), axis=-1)
    # Antiparallel vectors: rotate by π about any axis perpendicular to a.
    anti = w[..., 0] < 1e-9
    if np.any(anti):
        perp = np.cross(a_n[anti], np.array([1.0, 0.0, 0.0]))
        small = np.linalg.norm(perp, axis=-1) < 1e-6
        perp[small] = np.cross(a_n[anti][small], np.array([0.0, 1.0, 0.0]))
        q[anti] = np.concatenate((np.zeros((perp.shape[0], 1)), perp), axis=-1)
    out: FloatArray = q / _norm(q)
    return out


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """``np.cross`` over the last axis, same arithmetic, without its per-call overhead."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.float64)
    out[..., 0] = a1 * b2 - a2 * b1
    out[..., 1] = a2 * b0 - a0 * b2
    out[..., 2] = a0 * b1 - a1 * b0
    return out


def rotate(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate body vectors `v` (..., 3) by quaternions `q` (..., 4) into the world frame."""
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * _cross(u, v)
    out: FloatArray = v + w * t + _cross(u, t)
    return out


def to_matrix(q: FloatArray) -> FloatArray:
    """Rotation matrices (..., 3, 3) of unit quaternions (columns: body axes in world)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        (
            np.stack((1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)), -1),
            np.stack((2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)), -1),
            np.stack((2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)), -1),
        ),
        axis=-2,
    )


def cumulative_product(dq: FloatArray) -> FloatArray:
    """Running product ``dq[0] ⊗ dq[1] ⊗ … ⊗ dq[k]`` along axis -2.

    Batches (many sequences side by side) are multiplied step by step across the batch; a lone
    sequence uses a parallel prefix scan. Results are renormalised to unit length.
    """
    q = np.array(dq, dtype=np.float64, copy=True)
    n = q.shape[-2]
    batch = int(np.prod(q.shape[:-2])) if q.ndim > 2 else 1
    if batch >= _SEQUENTIAL_MIN_BATCH:
        for k in range(1, n):
            q[..., k, :] = multiply(q[..., k - 1, :], q[..., k, :])
    else:
        offset = 1
        while offset < n:
            q[..., offset:, :] = multiply(q[..., :-offset, :], q[..., offset:, :])
            offset *= 2
    out: FloatArray = q / _norm(q)
    return out
