"""Property tests for the CLI's time-grid parser (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dorsi.signal import NonMonotonicTimeError, SamplingRateError
from dorsi.signal.cli import to_uniform_grid


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=3, max_value=400),
    rate=st.floats(min_value=20.0, max_value=1000.0),
    t0=st.floats(min_value=-1e4, max_value=1e6),
    jitter=st.floats(min_value=0.0, max_value=0.2),
    drop_seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_grid_keeps_every_sample_and_marks_gaps(
    n: int, rate: float, t0: float, jitter: float, drop_seed: int
) -> None:
    rng = np.random.default_rng(drop_seed)
    keep = rng.random(n) > 0.2
    keep[[0, 1, -1]] = True  # ends present; the median step stays one period
    slots = np.flatnonzero(keep)
    t = t0 + (slots + rng.uniform(-jitter, jitter, slots.shape[0])) / rate
    values = rng.normal(size=(slots.shape[0], 6))
    if abs(rate * np.median(np.diff(t)) - 1.0) > 0.1:  # so many drops that --rate looks wrong
        with pytest.raises(SamplingRateError, match="does not match"):
            to_uniform_grid(t, values, rate)
        return
    grid, got_rate = to_uniform_grid(t, values, rate)
    assert got_rate == rate
    assert grid.shape == (n, 6)
    finite = np.all(np.isfinite(grid), axis=1)
    np.testing.assert_array_equal(np.flatnonzero(finite), slots)
    np.testing.assert_array_equal(grid[finite], values)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=3, max_value=200), swap=st.integers(min_value=1, max_value=199))
def test_grid_rejects_time_going_back(n: int, swap: int) -> None:
    t = np.arange(n, dtype=np.float64) / 100.0
    i = min(swap, n - 1)
    t[i] = t[i - 1] - 0.001
    with pytest.raises(NonMonotonicTimeError):
        to_uniform_grid(t, np.zeros((n, 6)), None)
