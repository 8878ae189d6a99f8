"""Sample sources, quantisation and the drifting device clock of the virtual sensor."""

from __future__ import annotations

import numpy as np
import pytest

from dorsi.firmware_protocol.constants import TICK_HZ, AccRange, GyroRange
from dorsi.firmware_protocol.virtual.quantize import quantize
from dorsi.firmware_protocol.virtual.source import ArraySource, SampleCursor, SimulatedSource
from dorsi.firmware_protocol.virtual.ticks import DeviceClock

G = 9.80665


def _linear_source(rate_hz: float, n: int) -> ArraySource:
    """acc = (t, 2t, 3t) m/s², gyr = (10t, -10t, 1) deg/s: linear, so interpolation is exact."""
    t = np.arange(n) / rate_hz
    acc = np.column_stack([t, 2 * t, 3 * t])
    gyr = np.column_stack([10 * t, -10 * t, np.ones_like(t)])
    return ArraySource(t, acc, gyr)


def test_native_rate_returns_samples_unchanged() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(50) / 104.0
    acc, gyr = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    block = ArraySource(t, acc, gyr).at_rate(104)
    np.testing.assert_array_equal(block.acc_mps2, acc)
    np.testing.assert_array_equal(block.gyr_dps, gyr)


@pytest.mark.parametrize("rate_hz", [26, 52, 208])
def test_resampling_follows_the_signal(rate_hz: int) -> None:
    block = _linear_source(104.0, 1041).at_rate(rate_hz)  # 10 s
    t = np.arange(len(block)) / rate_hz
    assert len(block) == 10 * rate_hz + 1
    np.testing.assert_allclose(block.acc_mps2[:, 1], 2 * t, atol=1e-9)
    np.testing.assert_allclose(block.gyr_dps[:, 0], 10 * t, atol=1e-9)


def test_cursor_keeps_its_place_across_rate_changes() -> None:
    cursor = SampleCursor(_linear_source(104.0, 1041), 104)
    acc, _ = cursor.take(52)  # 0.5 s
    assert acc.shape == (52, 3)
    cursor.set_rate(208)
    acc, _ = cursor.take(1)
    assert acc[0, 0] == pytest.approx(0.5)
    cursor.set_rate(52)  # next sample at/after 0.5 + 1/208 s
    acc, _ = cursor.take(1)
    assert acc[0, 0] == pytest.approx(27 / 52)


def test_cursor_end_and_loop() -> None:
    src = _linear_source(104.0, 10)
    cursor = SampleCursor(src, 104)
    acc, _ = cursor.take(7)
    acc, _ = cursor.take(7)
    assert len(acc) == 3
    assert cursor.exhausted
    assert cursor.take(5)[0].shape == (0, 3)
    looping = SampleCursor(src, 104, loop=True)
    acc, _ = looping.take(25)
    np.testing.assert_array_equal(acc[10:20], acc[:10])
    assert not looping.exhausted


@pytest.mark.parametrize("rate_hz", [52, 208])
def test_simulated_source_is_re_simulated_at_each_rate(rate_hz: int) -> None:
    from dorsi.firmware_protocol.sim import simulate

    source = SimulatedSource("footdrop_mild", seconds=5.0, side="right", seed=3)
    block = source.at_rate(rate_hz)
    rec = simulate("footdrop_mild", seconds=5.0, rate_hz=float(rate_hz), side="right", seed=3)
    assert len(block) == len(rec.t) == 5 * rate_hz
    np.testing.assert_array_equal(block.acc_mps2, rec.acc_mps2)
    np.testing.assert_array_equal(block.gyr_dps, rec.gyr_dps)


def test_quantize_scales_rounds_and_saturates() -> None:
    acc = np.array([[G, -2 * G, 0.0], [3 * G, 0.0, -5 * G]])
    gyr = np.array([[250.0, -125.0, 0.01], [0.0, 600.0, -600.0]])
    counts = quantize(acc, gyr, AccRange.G4, GyroRange.DPS500)
    assert counts.dtype == np.int16
    assert counts[0].tolist() == [8192, -16384, 0, 16384, -8192, 1]
    assert counts[1].tolist() == [24576, 0, -32768, 0, 32767, -32768]


def test_device_clock_drift_and_offset() -> None:
    now = [100.0]
    clock = DeviceClock(drift_ppm=50.0, tick_offset=1_000, now_s=lambda: now[0])
    assert clock.ticks() == 1_000
    now[0] += 86_400.0  # one day
    assert clock.ticks() == 1_000 + int(86_400 * TICK_HZ * (1 + 50e-6))
    target = clock.ticks() + TICK_HZ
    assert clock.host_seconds_until(target) == pytest.approx(1 / (1 + 50e-6), abs=1.1 / TICK_HZ)
    clock.reboot()
    assert clock.ticks() == 0


def test_raises() -> None:
    t = np.arange(5) / 10.0
    ok = np.zeros((5, 3))
    with pytest.raises(ValueError, match="strictly increasing"):
        ArraySource(t[::-1], ok, ok)
    with pytest.raises(ValueError, match=r"must both be \(5, 3\)"):
        ArraySource(t, ok[:, :2], ok)
    bad = ok.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        ArraySource(t, ok, bad)
    with pytest.raises(ValueError, match="speed"):
        DeviceClock(speed=0.0)
    with pytest.raises(ValueError, match="tick_offset"):
        DeviceClock(tick_offset=-1)
