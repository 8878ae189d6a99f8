"""Streaming analysis for the gateway: push chunks of samples, get each stride once complete.

The analyzer keeps a rolling buffer of the current gap-free run. A cheap causal detector
watches for contacts (gyr_y back to ≥ 0 after a swing); once `stride_ready_s` of data have
followed a contact (the mid-stance after it is then known), the batch stride core
(`strides_in_run`) re-runs on the buffer, every `update_interval_s` until the stride appears.
A stride is emitted after at most `stride_ready_s + 2 × update_interval_s` (0.39 s with the
defaults) of data past its `next_ic_t`. Because the same code runs on the same samples,
streaming and batch give the same strides; see tests/signal/test_streaming.py for the tolerance.

Gaps (missing packets) end the run: strides never span a gap. Frames: docs/frames.md.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dorsi.signal.alignment import MountingEstimate, apply_mounting, estimate_mounting
from dorsi.signal.config import GaitConfig
from dorsi.signal.errors import InputShapeError, NonMonotonicTimeError, SignalError
from dorsi.signal.metrics import StrideMetrics
from dorsi.signal.pipeline import MIN_INPUT_S
from dorsi.signal.strides import StrideSequencer, strides_in_run
from dorsi.signal.units import check_rate, seconds_to_samples
from dorsi.signal.validation import as_imu_arrays, check_units

__all__ = ["StreamingAnalyzer"]

FloatArray = NDArray[np.float64]

BUFFER_S = 10.0
"""History kept for re-analysis: the longest stride plus the stance and swing before it."""
SWING_MIN_S = 0.08
"""gyr_y must stay below −swing_min_dps this long to count as a swing for the contact watcher."""
CONTACT_LEAD_S = 0.05
"""Re-analysis starts this much before a watched contact is due: the detected IC may precede
the raw zero crossing the watcher sees (toe-first landings, filtering)."""
CONTACT_WATCH_S = 0.3
"""After a contact candidate is due, keep re-analysing this long until its stride appears."""
WARMUP_RETRY_S = 5.0
WARMUP_MAX_S = 120.0
GAP_FACTOR = 1.5
"""A time step longer than this many sample periods is a gap (missing packets)."""


class StreamingAnalyzer:
    """Incremental stride analysis of one foot; same results as `analyze` on the same data.

    Args:
        sampling_rate_hz: nominal IMU rate, Hz.
        config: analysis settings (as for `analyze`).
        mounting: sensor → body rotation (from `estimate_mounting`, e.g. saved from an earlier
            session); None = see `frame`.
        frame: "body" (data already body-aligned) or "sensor": without `mounting`, data are held
            back until `estimate_mounting` succeeds on them (tried every `WARMUP_RETRY_S` of data,
            keeping the last `WARMUP_MAX_S`); then the held data are analysed and emitted. The
            estimate is available as `.mounting` to be reused next time.
        update_interval_s: granularity of re-analysis while a stride is due, s.
    """

    def __init__(
        self,
        *,
        sampling_rate_hz: float,
        config: GaitConfig | None = None,
        mounting: MountingEstimate | None = None,
        frame: Literal["body", "sensor"] = "body",
        update_interval_s: float = 0.02,
    ) -> None:
        self._fs = check_rate(sampling_rate_hz)
        self._cfg = config or GaitConfig()
        self._mounting = mounting
        self._update_n = seconds_to_samples(update_interval_s, self._fs, what="update interval")
        self._buffer_n = seconds_to_samples(BUFFER_S, self._fs, what="buffer")
        self._min_n = seconds_to_samples(MIN_INPUT_S, self._fs, what="input")
        # The mid-stance windows are trailing (no look-ahead): the stance window itself, in whole
        # samples, plus one for the fractional contact index.
        after_n = seconds_to_samples(self._cfg.midstance_after_ic_s, self._fs, what="stance window")
        self._ready_s = (after_n + 1) / self._fs
        self._sequencer = StrideSequencer(sampling_rate_hz=self._fs)
        self._last_t: float | None = None
        self._last_emitted_ic_t = -np.inf
        self._last_processed_t: float | None = None
        self._estimating = frame == "sensor" and mounting is None
        self._held: list[tuple[FloatArray, FloatArray, FloatArray]] = []
        self._held_since_try = 0
        self._reset_run()

    @property
    def mounting(self) -> MountingEstimate | None:
        """Sensor → body rotation in use (None in the body frame or while still estimating)."""
        return self._mounting

    @property
    def stride_ready_s(self) -> float:
        """Data needed after `next_ic_t` before a stride is emitted, s."""
        return self._ready_s

    def _reset_run(self) -> None:
        self._contacts: list[float] = []
        self._in_swing = False
        self._neg_run = 0
        self._not_before_t = -np.inf
        self._t = np.zeros(0)
        self._acc = np.zeros((0, 3))
        self._gyr = np.zeros((0, 3))

    def push(self, t_s: ArrayLike, acc_mps2: ArrayLike, gyr_dps: ArrayLike) -> list[StrideMetrics]:
        """Add samples (time in s, acc in m/s², gyro in deg/s) and return newly complete strides.

        Axes: body frame (docs/frames.md), or sensor axes with `mounting` / `frame="sensor"`.

        NaN rows and time steps longer than `GAP_FACTOR` sample periods are treated as gaps.

        Raises:
            NonMonotonicTimeError: time goes backwards or repeats (also across chunks).
            InputShapeError: shapes do not match.
            UnitError: the data look like rad/s or g.
        """
        acc, gyr, _ = as_imu_arrays(acc_mps2, gyr_dps, self._fs)
        t = np.asarray(t_s, dtype=np.float64)
        if t.ndim != 1 or t.shape[0] != acc.shape[0]:
            raise InputShapeError(f"t_s must have shape ({acc.shape[0]},), got {t.shape}")
        if t.shape[0] == 0:
            return []
        if not np.all(np.isfinite(t)):
            raise NonMonotonicTimeError("timestamps must be finite; drop samples without time")
        if np.any(np.diff(t) <= 0.0) or (self._last_t is not None and t[0] <= self._last_t):
            raise NonMonotonicTimeError(
                "timestamps must increase strictly; map the sensor clock before pushing"
            )
        self._last_t = float(t[-1])
        if self._estimating:
            return self._hold(t, acc, gyr)
        return self._process(t, acc, gyr)

    def _hold(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> list[StrideMetrics]:
        """Keep sensor-frame data until the mounting can be estimated, then analyse them."""
        self._held.append((t.copy(), acc.copy(), gyr.copy()))  # the caller may reuse buffers
        self._held_since_try += t.shape[0]
        held_n = sum(c[0].shape[0] for c in self._held)
        while held_n - self._held[0][0].shape[0] > self._fs * WARMUP_MAX_S:
            held_n -= self._held.pop(0)[0].shape[0]
        if self._held_since_try < self._fs * WARMUP_RETRY_S:
            return []
        self._held_since_try = 0
        try:
            estimate = estimate_mounting(
                np.vstack([c[1] for c in self._held]),
                np.vstack([c[2] for c in self._held]),
                sampling_rate_hz=self._fs,
            )
        except SignalError:
            return []
        self._mounting = estimate
        self._estimating = False
        out: list[StrideMetrics] = []
        for chunk in self._held:
            out += self._process(*chunk)
        self._held = []
        return out

    def _process(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> list[StrideMetrics]:
        if self._mounting is not None:
            acc = apply_mounting(acc, self._mounting)
            gyr = apply_mounting(gyr, self._mounting)
        out: list[StrideMetrics] = []
        max_step = GAP_FACTOR / self._fs
        last = self._last_processed_t
        if last is not None and t[0] - last > max_step:
            out += self.mark_gap()
        steps = np.diff(t)
        ok = np.all(np.isfinite(acc), axis=1) & np.all(np.isfinite(gyr), axis=1)
        breaks = np.flatnonzero(~ok | np.concatenate(([False], steps > max_step)))
        start = 0
        for b in [*breaks.tolist(), t.shape[0]]:
            if b > start:
                out += self._append(t[start:b], acc[start:b], gyr[start:b])
            if b < t.shape[0]:
                out += self.mark_gap()
                start = b + 1 if not ok[b] else b
        self._last_processed_t = float(t[-1])
        return out

    def mark_gap(self) -> list[StrideMetrics]:
        """End the current run (missing data follow); returns strides completed by the run."""
        out = self._analyze(final=True)
        self._reset_run()
        return out

    def flush(self) -> list[StrideMetrics]:
        """End of stream: emit what the buffered data can still complete.

        Data still held for mounting estimation are analysed now if an estimate is possible.
        """
        if self._estimating and self._held:
            self._held_since_try = int(self._fs * WARMUP_RETRY_S)
            out = self._hold(*self._held.pop())
            return out + self.mark_gap()
        return self.mark_gap()

    def _append(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> list[StrideMetrics]:
        """Buffer samples piecewise; analyse only when a contact may have completed a stride."""
        out: list[StrideMetrics] = []
        for p0 in range(0, t.shape[0], self._update_n):
            p1 = min(p0 + self._update_n, t.shape[0])
            self._watch_contacts(t[p0:p1], gyr[p0:p1, 1])
            self._t = np.concatenate((self._t, t[p0:p1]))
            self._acc = np.vstack((self._acc, acc[p0:p1]))
            self._gyr = np.vstack((self._gyr, gyr[p0:p1]))
            end_t = float(self._t[-1])
            due = any(c + self._ready_s - CONTACT_LEAD_S <= end_t for c in self._contacts)
            if due and end_t >= self._not_before_t:
                emitted = self._analyze(final=False)
                out += emitted
                done = max((s.next_ic_t for s in emitted), default=-np.inf)
                self._contacts = [
                    c
                    for c in self._contacts
                    if c > done + 0.1 and end_t <= c + self._ready_s + CONTACT_WATCH_S
                ]
            excess = self._t.shape[0] - self._buffer_n
            if excess > 0:
                self._t, self._acc = self._t[excess:], self._acc[excess:]
                self._gyr = self._gyr[excess:]
        return out

    def _watch_contacts(self, t: FloatArray, gyr_y: FloatArray) -> None:
        """Causal contact candidates: gyr_y back to ≥ 0 after a swing (gyr_y below −threshold
        for at least `SWING_MIN_S`, so noise or fidgeting does not trigger re-analysis)."""
        threshold = -self._cfg.swing_min_dps
        need = max(1, round(SWING_MIN_S * self._fs))
        for ti, g in zip(t.tolist(), gyr_y.tolist(), strict=True):
            if g < threshold:
                self._neg_run += 1
                if self._neg_run >= need:
                    self._in_swing = True
            else:
                self._neg_run = 0
                if self._in_swing and g >= 0.0:
                    self._in_swing = False
                    if (
                        not self._contacts
                        or ti - self._contacts[-1] > self._cfg.min_step_interval_s
                    ):
                        self._contacts.append(ti)

    def _analyze(self, *, final: bool) -> list[StrideMetrics]:
        if self._t.shape[0] < self._min_n:
            return []
        check_units(self._acc, self._gyr)
        run = strides_in_run(
            self._acc,
            self._gyr,
            sampling_rate_hz=self._fs,
            t0_s=float(self._t[0]),
            config=self._cfg,
        )
        end_t = float(self._t[0]) + (self._t.shape[0] - 1) / self._fs
        self._not_before_t = -np.inf
        out: list[StrideMetrics] = []
        min_gap = 0.5 * self._cfg.min_stride_time_s
        for s in run.strides:
            if s.ic_t <= self._last_emitted_ic_t + min_gap:
                continue
            if not final and s.next_ic_t + self._ready_s > end_t:
                self._not_before_t = s.next_ic_t + self._ready_s  # known now: wait until then
                break
            out.append(self._sequencer.add(s))
            self._last_emitted_ic_t = s.ic_t
        return out
