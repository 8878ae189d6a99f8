"""IMU sample sources for the virtual sensor: arrays, CSV recordings or the gait simulator.

A source yields a whole recording at any supported rate (the sensor's SET_RATE resamples or
re-simulates it); a :class:`SampleCursor` plays it out, keeping its place in seconds across
rate changes. Axes are the sensor axes (body-aligned frame, see DEVELOPERS.md): specific force
in m/s², angular rate in deg/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class SampleBlock:
    """A recording at one uniform rate: ``acc_mps2`` and ``gyr_dps`` are (N, 3) arrays."""

    rate_hz: float
    acc_mps2: FloatArray
    gyr_dps: FloatArray

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz}")
        if self.acc_mps2.ndim != 2 or self.acc_mps2.shape[1] != 3:
            raise ValueError(f"acc_mps2 must be (N, 3), got {self.acc_mps2.shape}")
        if self.gyr_dps.shape != self.acc_mps2.shape:
            raise ValueError(
                f"gyr_dps shape {self.gyr_dps.shape} != acc_mps2 shape {self.acc_mps2.shape}"
            )

    def __len__(self) -> int:
        return int(self.acc_mps2.shape[0])

    @property
    def duration_s(self) -> float:
        """Length of the recording (s): N / rate_hz."""
        return len(self) / self.rate_hz


class SampleSource(Protocol):
    """Anything that can hand the sensor a recording at a requested rate (Hz)."""

    def at_rate(self, rate_hz: int) -> SampleBlock:
        """The whole recording sampled uniformly at ``rate_hz``, starting at its first sample."""
        ...


class ArraySource:
    """A recording given as arrays: times ``t_s`` (N,), ``acc_mps2`` (N, 3), ``gyr_dps`` (N, 3).

    At the recording's own (uniform) rate the samples are returned unchanged; other rates are
    linearly interpolated on the grid ``t_s[0] + k / rate_hz``.
    """

    def __init__(self, t_s: ArrayLike, acc_mps2: ArrayLike, gyr_dps: ArrayLike) -> None:
        t = np.asarray(t_s, dtype=np.float64)
        acc = np.asarray(acc_mps2, dtype=np.float64)
        gyr = np.asarray(gyr_dps, dtype=np.float64)
        if t.ndim != 1 or t.size < 2:
            raise ValueError(f"t_s must be a 1-D array of at least 2 times, got shape {t.shape}")
        if acc.shape != (t.size, 3) or gyr.shape != (t.size, 3):
            raise ValueError(
                f"acc_mps2 {acc.shape} and gyr_dps {gyr.shape} must both be ({t.size}, 3)"
            )
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(acc)) and np.all(np.isfinite(gyr))):
            raise ValueError("t_s, acc_mps2 and gyr_dps must be finite (no NaN/inf)")
        dt = np.diff(t)
        if np.any(dt <= 0):
            raise ValueError("t_s must be strictly increasing")
        self._t, self._acc, self._gyr = t, acc, gyr
        mean_dt = float(np.mean(dt))
        uniform = bool(np.all(np.abs(dt - mean_dt) <= 1e-6 * mean_dt + 1e-9))
        self.native_rate_hz: float | None = 1.0 / mean_dt if uniform else None
        """Rate of a uniformly sampled recording (Hz), else None."""
        self._cache: dict[int, SampleBlock] = {}

    def at_rate(self, rate_hz: int) -> SampleBlock:
        """The recording at ``rate_hz`` (exact samples at the native rate, else interpolated)."""
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        if rate_hz not in self._cache:
            self._cache[rate_hz] = self._resample(rate_hz)
        return self._cache[rate_hz]

    def _resample(self, rate_hz: int) -> SampleBlock:
        native = self.native_rate_hz
        if native is not None and abs(native - rate_hz) <= 1e-6 * rate_hz:
            return SampleBlock(float(rate_hz), self._acc.copy(), self._gyr.copy())
        n = math.floor(float(self._t[-1] - self._t[0]) * rate_hz + 1e-9) + 1
        grid = self._t[0] + np.arange(n) / rate_hz
        acc = np.column_stack([np.interp(grid, self._t, self._acc[:, i]) for i in range(3)])
        gyr = np.column_stack([np.interp(grid, self._t, self._gyr[:, i]) for i in range(3)])
        return SampleBlock(float(rate_hz), acc, gyr)


def csv_source(path: str | Path) -> ArraySource:
    """A recording from an ``imu.csv`` (header ``t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z``)."""
    from dorsi.firmware_protocol.sim.io import read_imu_csv

    t, acc, gyr = read_imu_csv(path)
    return ArraySource(t, acc, gyr)


class SimulatedSource:
    """A simulated walk (``dorsi.firmware_protocol.sim``), re-simulated at each requested rate."""

    def __init__(self, scenario: str, *, seconds: float, side: str = "left", seed: int = 0) -> None:
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be positive, got {seconds}")
        self.scenario, self.seconds, self.side, self.seed = scenario, seconds, side, seed
        self._cache: dict[int, SampleBlock] = {}

    def at_rate(self, rate_hz: int) -> SampleBlock:
        """The simulated recording at ``rate_hz`` (same scenario, seed and side at every rate)."""
        if rate_hz not in self._cache:
            from dorsi.firmware_protocol.sim import simulate

            rec = simulate(
                self.scenario,
                seconds=self.seconds,
                rate_hz=float(rate_hz),
                side=self.side,
                seed=self.seed,
            )
            acc = np.asarray(rec.acc_mps2, dtype=np.float64)
            gyr = np.asarray(rec.gyr_dps, dtype=np.float64)
            self._cache[rate_hz] = SampleBlock(float(rate_hz), acc, gyr)
        return self._cache[rate_hz]


class SampleCursor:
    """Plays a source out in order; its place is kept in seconds, so a rate change continues
    where the previous rate stopped. With ``loop`` it starts over at the end."""

    def __init__(self, source: SampleSource, rate_hz: int, *, loop: bool = False) -> None:
        self._source = source
        self.loop = loop
        self._block = source.at_rate(rate_hz)
        if len(self._block) == 0:
            raise ValueError("the sample source is empty")
        self._index = 0

    @property
    def rate_hz(self) -> int:
        """Current playback rate (Hz)."""
        return round(self._block.rate_hz)

    @property
    def position_s(self) -> float:
        """Time of the next sample from the recording's start (s)."""
        return self._index / self._block.rate_hz

    @property
    def exhausted(self) -> bool:
        """True when a non-looping cursor has played every sample."""
        return not self.loop and self._index >= len(self._block)

    def set_rate(self, rate_hz: int) -> None:
        """Switch to ``rate_hz``; the next sample is the first at or after the current place."""
        position_s = self.position_s
        self._block = self._source.at_rate(rate_hz)
        self._index = min(math.ceil(position_s * rate_hz - 1e-9), len(self._block))

    def take(self, n: int) -> tuple[FloatArray, FloatArray]:
        """Return up to ``n`` next samples as (acc_mps2 (k, 3), gyr_dps (k, 3)); k < n only at
        the end of a non-looping source."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        parts_acc, parts_gyr, want = [], [], n
        while want > 0:
            if self._index >= len(self._block):
                if not self.loop:
                    break
                self._index = 0
            stop = min(self._index + want, len(self._block))
            parts_acc.append(self._block.acc_mps2[self._index : stop])
            parts_gyr.append(self._block.gyr_dps[self._index : stop])
            want -= stop - self._index
            self._index = stop
        if not parts_acc:
            empty = np.empty((0, 3), dtype=np.float64)
            return empty, empty.copy()
        return np.concatenate(parts_acc), np.concatenate(parts_gyr)
