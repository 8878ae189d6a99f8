"""Streaming gives the batch strides, in time, from chunks of any size, with gaps marked."""

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

from dorsi.signal import (
    STRIDE_FIELDS,
    GaitAnalysis,
    InputShapeError,
    NonMonotonicTimeError,
    StreamingAnalyzer,
    StrideMetrics,
)

MAX_EMIT_DELAY_S = 0.5
# Agreement with batch (stated in docs/signal_status.md): same strides; times within 1 ms,
# everything else within 1e-6 relative (the same code runs on the same samples).
TIME_TOLERANCE_S = 1e-3


def stream(
    rec: Recording, rng: np.random.Generator, max_chunk: int
) -> tuple[list[StrideMetrics], list[float]]:
    """Push the recording in random chunks; return strides and each one's emit delay (s)."""
    analyzer = StreamingAnalyzer(sampling_rate_hz=IMU_RATE_HZ)
    n = rec.acc_mps2.shape[0]
    t = np.arange(n) / IMU_RATE_HZ
    strides: list[StrideMetrics] = []
    delays: list[float] = []
    i = 0
    while i < n:
        j = min(n, i + int(rng.integers(1, max_chunk + 1)))
        new = analyzer.push(t[i:j], rec.acc_mps2[i:j], rec.gyr_dps[i:j])
        delays += [float(t[j - 1]) - s.next_ic_t for s in new]
        strides += new
        i = j
    return strides + analyzer.flush(), delays


def assert_same_strides(batch: tuple[StrideMetrics, ...], streamed: list[StrideMetrics]) -> None:
    assert len(streamed) == len(batch)
    for a, b in zip(batch, streamed, strict=True):
        for name in STRIDE_FIELDS:
            x, y = getattr(a, name), getattr(b, name)
            if name.endswith("_t"):
                assert y == pytest.approx(x, abs=TIME_TOLERANCE_S), name
            elif isinstance(x, float):
                assert y == pytest.approx(x, rel=1e-6, abs=1e-6, nan_ok=True), name
            else:
                assert y == x, name


@pytest.mark.parametrize("side", SIDES)
def test_basic_streaming_matches_batch(
    side: str, recordings: dict[str, Recording], body_analyses: dict[str, GaitAnalysis]
) -> None:
    streamed, _ = stream(recordings[side], np.random.default_rng(7), max_chunk=60)
    assert_same_strides(body_analyses[side].strides, streamed)


@pytest.mark.parametrize("side", SIDES)
def test_emit_delay_is_bounded(side: str, recordings: dict[str, Recording]) -> None:
    """With chunks of ≤ 3 samples every stride is out ≤ 0.5 s after next_ic_t (data time).

    A whole 19-sample BLE packet adds up to 19 / rate s on top (bench/signal_streaming.py).
    """
    _, delays = stream(recordings[side], np.random.default_rng(3), max_chunk=3)
    assert len(delays) >= 25
    assert max(delays) <= MAX_EMIT_DELAY_S
    assert min(delays) >= 0.0


def test_gap_splits_strides(recordings: dict[str, Recording]) -> None:
    rec = recordings["right"]
    n = rec.acc_mps2.shape[0]
    t = np.arange(n) / IMU_RATE_HZ
    t[n // 2 :] += 5.0  # 5 s of missing packets
    analyzer = StreamingAnalyzer(sampling_rate_hz=IMU_RATE_HZ)
    strides: list[StrideMetrics] = []
    for i in range(0, n, 20):
        strides += analyzer.push(t[i : i + 20], rec.acc_mps2[i : i + 20], rec.gyr_dps[i : i + 20])
    strides += analyzer.flush()
    gap = (t[n // 2 - 1], t[n // 2])
    assert all(s.next_ic_t <= gap[0] or s.ic_t >= gap[1] for s in strides)
    assert any(s.ic_t >= gap[1] for s in strides)
    assert len({s.bout for s in strides}) >= 2


def test_empty_push() -> None:
    analyzer = StreamingAnalyzer(sampling_rate_hz=100.0)
    assert analyzer.push(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3))) == []
    assert analyzer.flush() == []


def test_raises_on_time_going_backwards() -> None:
    analyzer = StreamingAnalyzer(sampling_rate_hz=100.0)
    acc = np.tile([0.0, 0.0, 9.81], (10, 1))
    analyzer.push(np.arange(10) / 100.0, acc, np.zeros((10, 3)))
    with pytest.raises(NonMonotonicTimeError, match="increase"):
        analyzer.push(np.arange(10) / 100.0, acc, np.zeros((10, 3)))
    with pytest.raises(NonMonotonicTimeError):
        analyzer.push(np.array([1.0, 1.0]), acc[:2], np.zeros((2, 3)))


def test_raises_on_shape_mismatch() -> None:
    analyzer = StreamingAnalyzer(sampling_rate_hz=100.0)
    with pytest.raises(InputShapeError, match="t_s"):
        analyzer.push(np.zeros(3), np.zeros((4, 3)), np.zeros((4, 3)))


@pytest.mark.parametrize("side", SIDES)
def test_sensor_frame_streaming_estimates_mounting(
    side: str, recordings: dict[str, Recording]
) -> None:
    """Sensor-frame data: held back until the mounting is estimated, then accurate strides."""
    rec = recordings[side]
    rotation = random_rotation(np.random.default_rng(11), 30.0)
    acc, gyr = rec.acc_mps2 @ rotation.T, rec.gyr_dps @ rotation.T
    analyzer = StreamingAnalyzer(sampling_rate_hz=IMU_RATE_HZ, frame="sensor")
    assert analyzer.mounting is None
    t = np.arange(acc.shape[0]) / IMU_RATE_HZ
    strides: list[StrideMetrics] = []
    for i in range(0, acc.shape[0], 25):
        strides += analyzer.push(t[i : i + 25], acc[i : i + 25], gyr[i : i + 25])
    strides += analyzer.flush()
    assert analyzer.mounting is not None
    check_targets(compare(strides, rec))


def test_nan_rows_are_gaps(recordings: dict[str, Recording]) -> None:
    rec = recordings["left"]
    acc, gyr = rec.acc_mps2.copy(), rec.gyr_dps.copy()
    acc[3000:3050] = np.nan
    t = np.arange(acc.shape[0]) / IMU_RATE_HZ
    analyzer = StreamingAnalyzer(sampling_rate_hz=IMU_RATE_HZ)
    strides: list[StrideMetrics] = []
    for i in range(0, acc.shape[0], 33):
        strides += analyzer.push(t[i : i + 33], acc[i : i + 33], gyr[i : i + 33])
    strides += analyzer.flush()
    gap = (t[3000], t[3049])
    assert len(strides) >= 25
    assert all(s.next_ic_t <= gap[0] or s.ic_t >= gap[1] for s in strides)


def test_sensor_frame_without_walking_emits_nothing() -> None:
    analyzer = StreamingAnalyzer(sampling_rate_hz=100.0, frame="sensor")
    t = np.arange(2000) / 100.0
    acc = np.tile([0.0, 0.0, 9.81], (2000, 1))
    assert analyzer.push(t, acc, np.zeros((2000, 3))) == []
    assert analyzer.flush() == []
    assert analyzer.mounting is None
