"""Quaternion helpers against straightforward references."""

from __future__ import annotations

import numpy as np

from dorsi.signal import quaternion as quat


def _random_quats(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    out: np.ndarray = q / np.linalg.norm(q, axis=1, keepdims=True)
    return out


def test_cumulative_product_matches_sequential() -> None:
    rng = np.random.default_rng(0)
    dq = _random_quats(rng, 37)
    expected = [dq[0]]
    for k in range(1, dq.shape[0]):
        expected.append(quat.multiply(expected[-1], dq[k]))
    np.testing.assert_allclose(quat.cumulative_product(dq), np.array(expected), atol=1e-12)


def test_cumulative_product_empty() -> None:
    assert quat.cumulative_product(np.zeros((0, 4))).shape == (0, 4)


def test_rotate_matches_matrix() -> None:
    rng = np.random.default_rng(1)
    q = _random_quats(rng, 10)
    v = rng.normal(size=(10, 3))
    by_matrix = np.einsum("nij,nj->ni", quat.to_matrix(q), v)
    np.testing.assert_allclose(quat.rotate(q, v), by_matrix, atol=1e-12)


def test_from_rotvec_quarter_turn_about_z() -> None:
    q = quat.from_rotvec(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(quat.rotate(q, np.array([1.0, 0.0, 0.0])), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(quat.from_rotvec(np.zeros(3)), [1, 0, 0, 0])


def test_from_two_vectors_including_antiparallel() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(20, 3))
    b = rng.normal(size=(20, 3))
    b[0] = -a[0]
    q = quat.from_two_vectors(a, b)
    rotated = quat.rotate(q, a / np.linalg.norm(a, axis=1, keepdims=True))
    np.testing.assert_allclose(rotated, b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-9)


def test_cumulative_product_batched_matches_single() -> None:
    rng = np.random.default_rng(3)
    dq = np.stack([_random_quats(rng, 25) for _ in range(300)])  # batch: sequential path
    batched = quat.cumulative_product(dq)
    for row in range(dq.shape[0]):
        np.testing.assert_allclose(batched[row], quat.cumulative_product(dq[row]), atol=1e-12)
