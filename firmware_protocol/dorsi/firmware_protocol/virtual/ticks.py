"""The virtual sensor's free-running tick counter (``TICK_HZ``), with a crystal drift.

Device time runs ``speed × (1 + drift_ppm · 10⁻⁶)`` times as fast as the host's monotonic clock:
``speed`` > 1 is a time-lapse for tests (samples keep their nominal spacing in ticks), and
``drift_ppm`` models the crystal error the gateway's clock mapping must estimate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from dorsi.firmware_protocol.constants import TICK_HZ


class DeviceClock:
    """Device ticks since boot plus ``tick_offset``; :meth:`reboot` starts again at zero."""

    def __init__(
        self,
        *,
        drift_ppm: float = 0.0,
        tick_offset: int = 0,
        speed: float = 1.0,
        now_s: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(drift_ppm) and abs(drift_ppm) < 1e5):
            raise ValueError(f"drift_ppm must be finite and below 1e5 in size, got {drift_ppm}")
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive factor, got {speed}")
        if tick_offset < 0:
            raise ValueError(f"tick_offset must be >= 0 (ticks are u64), got {tick_offset}")
        self.drift_ppm = drift_ppm
        self.speed = speed
        self.tick_offset = tick_offset
        self._now_s = now_s
        self._epoch_s = now_s()

    @property
    def ticks_per_host_second(self) -> float:
        """Device ticks per second of host time (ticks/s)."""
        return TICK_HZ * self.speed * (1.0 + self.drift_ppm * 1e-6)

    def ticks(self) -> int:
        """Current device tick count (u64)."""
        elapsed_s = self._now_s() - self._epoch_s
        return self.tick_offset + math.floor(elapsed_s * self.ticks_per_host_second)

    def host_seconds_until(self, ticks: float) -> float:
        """Host seconds until the device clock reads ``ticks`` (≤ 0 if already past)."""
        elapsed_s = self._now_s() - self._epoch_s
        return (ticks - self.tick_offset) / self.ticks_per_host_second - elapsed_s

    def reboot(self, tick_offset: int = 0) -> None:
        """Restart counting from ``tick_offset`` now (a power cycle resets the counter)."""
        if tick_offset < 0:
            raise ValueError(f"tick_offset must be >= 0, got {tick_offset}")
        self.tick_offset = tick_offset
        self._epoch_s = self._now_s()
