"""Device tick → UTC mapping from TIME_SYNC exchanges (offset and drift), per boot epoch.

Each exchange gives the host UTC send time t1, the device tick at receipt D and the host UTC
receive time t4. Delays are never negative, so t1 ≤ utc(D) ≤ t4 whatever the jitter. The
mapper fits utc = a + b · (D / TICK_HZ) over a sliding window as the centre line of all these
bounds (so short round trips constrain it and long ones cannot pull it), rejects round trips
above ``max_rtt_s``, and starts a new epoch when the device rebooted (ticks went backwards, or
disagree with the fit by more than any crystal could drift). Path asymmetry is invisible to
any two-way method; it bounds the absolute accuracy. SPEC.md §8 (time synchronisation).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

from .constants import TICK_HZ
from .errors import ClockNotSyncedError

MAX_CRYSTAL_PPM = 200.0
"""Drift bound used to tell a reboot from drift: real 32 kHz crystals stay within ±100 ppm."""


@dataclass(frozen=True)
class SyncExchange:
    """One TIME_SYNC round trip: host UTC send/receive times (s) and device tick at receipt."""

    host_send_s: float
    device_ticks: int
    host_receive_s: float

    @property
    def rtt_s(self) -> float:
        """Round-trip time (s)."""
        return self.host_receive_s - self.host_send_s

    @property
    def midpoint_s(self) -> float:
        """Host UTC time assumed for ``device_ticks`` (s since the Unix epoch)."""
        return 0.5 * (self.host_send_s + self.host_receive_s)

    @property
    def device_s(self) -> float:
        """Device time since boot (s) at nominal ``TICK_HZ``."""
        return self.device_ticks / TICK_HZ


@dataclass(frozen=True)
class ClockFit:
    """utc_s = ``utc_at_ref_s`` + (device_s − ``ref_device_s``) × (1 + ``drift``)."""

    ref_device_s: float
    utc_at_ref_s: float
    drift: float
    """Host seconds per device second, minus 1 (positive: the device crystal is slow)."""
    n_used: int
    last_device_s: float

    def utc_s(self, device_s: float) -> float:
        return self.utc_at_ref_s + (device_s - self.ref_device_s) * (1.0 + self.drift)


class ClockMapper:
    """Maps device ticks to UTC for the current (and earlier) boot epochs of one device.

    Args:
        window_s: exchanges older than this (device time, s) before the newest are dropped.
        max_rtt_s: round trips longer than this are rejected outright (s).
        min_span_for_drift_s: below this spread of accepted exchanges, drift is taken as 0 (s).
        reboot_tolerance_s: a fit residual beyond this (plus ``MAX_CRYSTAL_PPM`` × elapsed)
            means the device rebooted (s).
        backstep_tolerance_s: ticks may step back this much before it counts as a reboot
            (a live packet's t0 precedes a TIME_SYNC tick taken while it was filled) (s).
    """

    def __init__(
        self,
        *,
        window_s: float = 6 * 3600.0,
        max_rtt_s: float = 0.5,
        min_span_for_drift_s: float = 300.0,
        reboot_tolerance_s: float = 2.0,
        backstep_tolerance_s: float = 5.0,
    ) -> None:
        if not (window_s > 0 and max_rtt_s > 0 and min_span_for_drift_s >= 0):
            raise ValueError("window_s and max_rtt_s must be > 0, min_span_for_drift_s >= 0")
        self.window_s = window_s
        self.max_rtt_s = max_rtt_s
        self.min_span_for_drift_s = min_span_for_drift_s
        self.reboot_tolerance_s = reboot_tolerance_s
        self.backstep_tolerance_ticks = round(backstep_tolerance_s * TICK_HZ)
        self.epoch = 0
        self._exchanges: list[SyncExchange] = []
        self._fits: dict[int, ClockFit] = {}
        self._dirty = False  # exchanges added since the current epoch's fit
        self._max_ticks_seen: int | None = None
        self.rejected = 0

    @property
    def synced(self) -> bool:
        """True once the current epoch has an accepted exchange."""
        return self.epoch in self._fits

    @property
    def drift_ppm(self) -> float:
        """Estimated device clock rate error of the current epoch (ppm; > 0: ticks run fast)."""
        return (1.0 / (1.0 + self._fit(None).drift) - 1.0) * 1e6

    def new_epoch(self) -> None:
        """Start a new boot epoch (device rebooted): forget exchanges, keep earlier fits."""
        self.epoch += 1
        self._exchanges.clear()
        self._dirty = False
        self._max_ticks_seen = None

    def observe_ticks(self, device_ticks: int) -> bool:
        """Note a current device tick (TIME_SYNC, status uptime or a live packet's t0).

        Do not pass backfilled packets' ticks. Returns True if the tick went backwards by more
        than ``backstep_tolerance_s``, i.e. the device rebooted and a new epoch began.
        """
        seen = self._max_ticks_seen
        if seen is not None and device_ticks < seen - self.backstep_tolerance_ticks:
            self.new_epoch()
            self._max_ticks_seen = device_ticks
            return True
        self._max_ticks_seen = max(device_ticks, self._max_ticks_seen or 0)
        return False

    def add_exchange(self, host_send_s: float, device_ticks: int, host_receive_s: float) -> bool:
        """Add one TIME_SYNC round trip; returns True if it was used (not rejected).

        A reboot (ticks backwards, or a residual no crystal drift can explain) starts a new
        epoch first, and the exchange then seeds it.
        """
        ex = SyncExchange(host_send_s, device_ticks, host_receive_s)
        if not (math.isfinite(ex.rtt_s) and 0.0 <= ex.rtt_s <= self.max_rtt_s):
            self.rejected += 1
            return False
        self.observe_ticks(device_ticks)
        fit = self._fits.get(self.epoch)
        if fit is not None and self._dirty and ex.device_s - fit.last_device_s > 60.0:
            fit = self._refit()  # within a burst the previous fit is recent enough
        if fit is not None and self._exchanges:
            elapsed = abs(ex.device_s - fit.last_device_s)
            allowed = self.reboot_tolerance_s + MAX_CRYSTAL_PPM * 1e-6 * elapsed + ex.rtt_s
            if abs(ex.midpoint_s - fit.utc_s(ex.device_s)) > allowed:
                self.new_epoch()
                self._max_ticks_seen = device_ticks
        self._exchanges.append(ex)
        newest = max(e.device_s for e in self._exchanges)
        self._exchanges = [e for e in self._exchanges if newest - e.device_s <= self.window_s]
        self._dirty = True
        if self.epoch not in self._fits:
            self._refit()
        return True

    def add(self, exchange: SyncExchange) -> bool:
        """``add_exchange`` for a ``SyncExchange``; returns True if it was used."""
        return self.add_exchange(
            exchange.host_send_s, exchange.device_ticks, exchange.host_receive_s
        )

    def to_utc_s(self, device_ticks: float, *, epoch: int | None = None) -> float:
        """UTC of a device tick (s since the Unix epoch) in ``epoch`` (default: current).

        Raises:
            ClockNotSyncedError: no accepted exchange in that epoch.
        """
        return self._fit(epoch).utc_s(device_ticks / TICK_HZ)

    def to_datetime(self, device_ticks: float, *, epoch: int | None = None) -> dt.datetime:
        """UTC of a device tick as a timezone-aware datetime."""
        return dt.datetime.fromtimestamp(self.to_utc_s(device_ticks, epoch=epoch), tz=dt.UTC)

    def _refit(self) -> ClockFit:
        fit = _bounds_fit(self._exchanges, self.min_span_for_drift_s)
        self._fits[self.epoch] = fit
        self._dirty = False
        return fit

    def _fit(self, epoch: int | None) -> ClockFit:
        key = self.epoch if epoch is None else epoch
        if key == self.epoch and self._dirty:
            return self._refit()
        fit = self._fits.get(key)
        if fit is None:
            raise ClockNotSyncedError(
                f"no accepted TIME_SYNC in boot epoch {key}: send TIME_SYNC after (re)connecting"
            )
        return fit


def _upper_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Upper convex hull of points sorted by x (the only points that can set a maximum)."""
    hull: list[tuple[float, float]] = []
    for p in points:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def _bounds_fit(exchanges: list[SyncExchange], min_span_s: float) -> ClockFit:
    """Centre line of the band every exchange allows: t1 ≤ utc(D) ≤ t4 (+1 tick).

    Delays are never negative, so each exchange bounds the true UTC of its tick between send
    and receive time however noisy the round trip. With utc = ref_utc + x + c0 + c1·x
    (x = device s since the newest exchange), the band width for drift c1 is
    w(c1) = min(hi − c1·x) − max(lo − c1·x), concave in c1. The drift is the centre of the
    interval of drifts consistent with every exchange (w ≥ 0), or the least-violating drift
    (max w) if none is; c0 is then the centre of the band.
    """
    newest = max(exchanges, key=lambda e: e.device_ticks)
    ref_x, ref_y = newest.device_s, newest.midpoint_s
    tick_s = 1.0 / TICK_HZ
    rows = sorted(
        (
            e.device_s - ref_x,
            e.host_send_s - ref_y - (e.device_s - ref_x),
            e.host_receive_s + tick_s - ref_y - (e.device_s - ref_x),
        )
        for e in exchanges
    )
    lo_hull = _upper_hull([(x, lo) for x, lo, _ in rows])
    hi_hull = [(x, -y) for x, y in _upper_hull([(x, -hi) for x, _, hi in rows])]

    def band(c1: float) -> tuple[float, float]:
        low = max(lo - c1 * x for x, lo in lo_hull)
        high = min(hi - c1 * x for x, hi in hi_hull)
        return low, high

    def width(c1: float) -> float:
        low, high = band(c1)
        return high - low

    span = rows[-1][0] - rows[0][0]
    c1 = 0.0
    if span >= min_span_s and len(rows) >= 2:
        limit = MAX_CRYSTAL_PPM * 1e-6
        c1 = _argmax_concave(width, -limit, limit)
        if width(c1) > 0:  # consistent drifts form an interval: take its centre
            c1 = 0.5 * (_root(width, c1, -limit) + _root(width, c1, limit))
    low, high = band(c1)
    return ClockFit(
        ref_device_s=ref_x,
        utc_at_ref_s=ref_y + 0.5 * (low + high),
        drift=c1,
        n_used=len(rows),
        last_device_s=ref_x,
    )


_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _argmax_concave(f: Callable[[float], float], a: float, b: float) -> float:
    """Maximiser of a concave function on [a, b] (golden-section search)."""
    for _ in range(64):
        m1, m2 = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        if f(m1) < f(m2):
            a = m1
        else:
            b = m2
    return 0.5 * (a + b)


def _root(f: Callable[[float], float], inside: float, outside: float) -> float:
    """Boundary of {f ≥ 0} between ``inside`` (f ≥ 0) and ``outside`` (bisection)."""
    if f(outside) >= 0:
        return outside
    for _ in range(64):
        mid = 0.5 * (inside + outside)
        if f(mid) >= 0:
            inside = mid
        else:
            outside = mid
    return inside
