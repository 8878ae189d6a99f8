"""Per-minute brace wear and walking summaries on UTC minutes, for adherence.

Samples (body frame once the mounting is known) and strides arrive with UTC times; when a UTC
minute is complete (data past its end), ``dorsi.signal.classify_activity`` classifies it with the
strides in it. Minutes with too little data (link down, sensor off) are reported as such by the
classifier (``unknown``) and not published: missing data is not evidence of not wearing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dorsi.signal import SignalError
from dorsi.signal.activity import Activity, classify_activity

MINUTE_S = 60.0
_STATES = {
    Activity.NOT_WORN: "not_worn",
    Activity.WORN_STILL: "worn_still",
    Activity.WALKING: "walking",
}


@dataclass(frozen=True)
class MinuteSummary:
    """One UTC minute: start (s since epoch, on the minute), state, wear and walking time (s)."""

    t_utc_s: float
    state: str
    worn_s: float
    walking_s: float
    strides: int

    def as_payload(self) -> dict[str, object]:
        return {
            "t": self.t_utc_s,
            "state": self.state,
            "worn_s": self.worn_s,
            "walking_s": self.walking_s,
            "strides": self.strides,
        }


class ActivityAccumulator:
    """Collects one sensor's samples per UTC minute and classifies completed minutes.

    Args:
        sampling_rate_hz: nominal sample rate, Hz.
        grace_s: a minute is complete once data this far past its end have arrived, s.
    """

    def __init__(self, *, sampling_rate_hz: float, grace_s: float = 5.0) -> None:
        self.fs = float(sampling_rate_hz)
        self.grace_s = grace_s
        self._t: list[NDArray[np.float64]] = []
        self._acc: list[NDArray[np.float64]] = []
        self._gyr: list[NDArray[np.float64]] = []
        self._strides: list[tuple[float, float]] = []  # (ic_utc, next_ic_utc)
        self._latest = -math.inf

    def add_samples(
        self, t_utc_s: NDArray[np.float64], acc: NDArray[np.float64], gyr: NDArray[np.float64]
    ) -> None:
        """Samples with their UTC times (s), body-frame acc (m/s²) and gyro (deg/s)."""
        if t_utc_s.shape[0] == 0:
            return
        self._t.append(t_utc_s)
        self._acc.append(acc)
        self._gyr.append(gyr)
        self._latest = max(self._latest, float(t_utc_s[-1]))

    def add_stride(self, ic_utc_s: float, next_ic_utc_s: float) -> None:
        self._strides.append((ic_utc_s, next_ic_utc_s))

    def completed(self, *, final: bool = False) -> list[MinuteSummary]:
        """Classify and forget every minute that is complete (all buffered ones if ``final``)."""
        if not self._t:
            return []
        t = np.concatenate(self._t)
        order = np.argsort(t, kind="stable")
        t = t[order]
        acc = np.vstack(self._acc)[order]
        gyr = np.vstack(self._gyr)[order]
        horizon = math.inf if final else self._latest - self.grace_s
        out: list[MinuteSummary] = []
        start_minute = math.floor(t[0] / MINUTE_S) * MINUTE_S
        cut = 0
        minute = start_minute
        while minute + MINUTE_S <= horizon and cut < t.shape[0]:
            end = int(np.searchsorted(t, minute + MINUTE_S, side="left"))
            if end > cut:
                summary = self._classify(minute, t[cut:end], acc[cut:end], gyr[cut:end])
                if summary is not None:
                    out.append(summary)
            cut = end
            minute += MINUTE_S
            if cut < t.shape[0]:  # skip the empty minutes of a gap in one step
                minute = max(minute, math.floor(t[cut] / MINUTE_S) * MINUTE_S)
        self._t = [t[cut:]] if cut < t.shape[0] else []
        self._acc = [acc[cut:]] if cut < t.shape[0] else []
        self._gyr = [gyr[cut:]] if cut < t.shape[0] else []
        self._strides = [s for s in self._strides if s[1] > minute]
        return out

    def _classify(
        self,
        minute: float,
        t: NDArray[np.float64],
        acc: NDArray[np.float64],
        gyr: NDArray[np.float64],
    ) -> MinuteSummary | None:
        if t.shape[0] < 0.5 * MINUTE_S * self.fs:
            return None  # too little data to say anything about this minute
        strides = [
            _StrideSpan(ic - minute, nxt - minute)
            for ic, nxt in self._strides
            if nxt > minute and ic < minute + MINUTE_S
        ]
        try:
            summary = classify_activity(
                acc,
                gyr,
                strides,
                sampling_rate_hz=self.fs,
                t0_s=float(t[0] - minute),
                minute_s=MINUTE_S,
            )
        except SignalError:
            return None
        states = [m.state for m in summary.minutes if m.state in _STATES]
        if not states:
            return None
        state = max(states, key=lambda s: s.value)  # a walked-in minute counts as walking
        walking_s = min(MINUTE_S, sum(m.walking_s for m in summary.minutes))
        worn_s = 0.0 if state == Activity.NOT_WORN else MINUTE_S
        count = sum(1 for s in strides if 0.0 <= s.ic_t < MINUTE_S)
        return MinuteSummary(minute, _STATES[state], worn_s, round(walking_s, 2), count)


@dataclass(frozen=True)
class _StrideSpan:
    """The two stride fields the activity rule reads (times relative to the minute, s)."""

    ic_t: float
    next_ic_t: float
