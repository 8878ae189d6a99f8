"""Never a crash: arbitrary input gives strides or a `SignalError`, nothing else (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dorsi.signal import SignalError, StreamingAnalyzer, analyze

RATE_HZ = 100.0


def _signals(seed: int, n: int, kind: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE_HZ
    acc = rng.normal(0.0, 3.0, (n, 3)) + np.array([0.0, 0.0, 9.81])
    gyr = rng.normal(0.0, 50.0, (n, 3))
    if kind == 1:  # walking-like gyr_y with random stride period
        period = rng.uniform(0.4, 3.0)
        gyr[:, 1] += 400.0 * np.sin(2 * np.pi * t / period) ** 3
    elif kind == 2 and n > 0:  # spikes, NaN holes and clipping
        gyr[rng.integers(0, n, max(1, n // 50))] = 2000.0
        acc[rng.integers(0, n, max(1, n // 100))] = np.nan
    elif kind == 3:  # constant (sensor lying still)
        acc[:] = [0.0, 9.81, 0.0]
        gyr[:] = 0.0
    return acc, gyr


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3000),
    kind=st.integers(0, 3),
    frame=st.sampled_from(["body", "sensor"]),
)
def test_analyze_never_crashes(seed: int, n: int, kind: int, frame: str) -> None:
    acc, gyr = _signals(seed, n, kind)
    try:
        result = analyze(acc, gyr, sampling_rate_hz=RATE_HZ, frame=frame)  # type: ignore[arg-type]
    except SignalError:
        return
    for s in result.strides:
        assert s.ic_t < s.to_t < s.next_ic_t
        assert 0.0 <= s.quality <= 1.0


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.integers(0, 3),
    chunk=st.integers(1, 400),
    frame=st.sampled_from(["body", "sensor"]),
)
def test_streaming_never_crashes(seed: int, kind: int, chunk: int, frame: str) -> None:
    acc, gyr = _signals(seed, 2500, kind)
    t = np.arange(acc.shape[0]) / RATE_HZ
    analyzer = StreamingAnalyzer(sampling_rate_hz=RATE_HZ, frame=frame)  # type: ignore[arg-type]
    strides = []
    try:
        for i in range(0, acc.shape[0], chunk):
            strides += analyzer.push(t[i : i + chunk], acc[i : i + chunk], gyr[i : i + chunk])
        strides += analyzer.flush()
    except SignalError:
        return
    assert all(s.ic_t < s.next_ic_t for s in strides)
