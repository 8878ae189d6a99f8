"""Sequence bookkeeping for one device boot: unwrap u16 sequences, find gaps, plan backfill.

Feed every received data packet's sequence (live and backfilled) to ``SequenceTracker.feed``;
it returns the packet's monotonic 64-bit index within the boot and whether the packet is new,
recovers a gap, or is a duplicate. ``missing_ranges()`` lists (from_sequence, count) pairs
ready for BACKFILL requests. SPEC.md §7 (ring buffer and backfill).
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass

from .constants import MAX_RING_PACKETS, SEQUENCE_MODULUS

_HALF = SEQUENCE_MODULUS // 2
MAX_HORIZON_PACKETS = MAX_RING_PACKETS
"""Largest tracking horizon: beyond half the u16 sequence space the unwrap is ambiguous."""


class Arrival(enum.Enum):
    """How a fed packet relates to what was seen before."""

    NEW = "new"
    """Newest so far (may open a gap behind it)."""
    RECOVERED = "recovered"
    """Fills a missing slot: a backfilled or late packet. Process it."""
    DUPLICATE = "duplicate"
    """Already received (e.g. backfilled twice). Drop it."""
    STALE = "stale"
    """Older than the tracking horizon (or than the first packet): cannot be classified. Drop it."""


@dataclass(frozen=True)
class Fed:
    """Result of ``SequenceTracker.feed``: the unwrapped packet index and its classification."""

    index: int
    arrival: Arrival


class SequenceTracker:
    """Tracks received packet sequences of one device boot.

    Args:
        horizon_packets: how far behind the newest packet missing packets are still tracked
            (use the device's ring-buffer capacity); older gaps count as lost. At most 32767.

    Raises:
        ValueError: horizon outside 1..32767.
    """

    def __init__(self, *, horizon_packets: int = MAX_HORIZON_PACKETS) -> None:
        if not 1 <= horizon_packets <= MAX_HORIZON_PACKETS:
            raise ValueError(
                f"horizon_packets must be in 1..{MAX_HORIZON_PACKETS}, got {horizon_packets}"
            )
        self.horizon_packets = horizon_packets
        self._highest: int | None = None
        self._first = 0
        # sorted, disjoint, non-adjacent half-open intervals [start, stop) of missing indices
        self._starts: list[int] = []
        self._stops: list[int] = []
        self.received = 0
        self.duplicates = 0
        self.recovered = 0
        self.lost = 0

    @property
    def highest_index(self) -> int | None:
        """Index of the newest packet seen, or None before the first."""
        return self._highest

    @property
    def missing_count(self) -> int:
        """Packets currently known missing within the horizon."""
        return sum(b - a for a, b in zip(self._starts, self._stops, strict=True))

    def reset(self) -> None:
        """Forget all sequences (device rebooted: its sequence restarted at 0); keep counters."""
        self.lost += self.missing_count
        self._highest = None
        self._starts.clear()
        self._stops.clear()

    def unwrap(self, sequence: int) -> int:
        """Monotonic index of ``sequence`` relative to the newest packet (nearest in u16 space).

        Raises:
            ValueError: sequence not a u16, or nothing fed yet.
        """
        _check_sequence(sequence)
        if self._highest is None:
            raise ValueError("no packet fed yet: nothing to unwrap against")
        delta = (sequence - self._highest) % SEQUENCE_MODULUS
        return (
            self._highest + delta if delta < _HALF else self._highest - (SEQUENCE_MODULUS - delta)
        )

    def feed(self, sequence: int) -> Fed:
        """Record a received packet's u16 sequence (live or backfilled)."""
        _check_sequence(sequence)
        if self._highest is None:
            self._highest = self._first = sequence
            self.received += 1
            return Fed(sequence, Arrival.NEW)
        index = self.unwrap(sequence)
        if index > self._highest:
            if index > self._highest + 1:
                self._add_missing(self._highest + 1, index)
            self._highest = index
            self._expire()
            self.received += 1
            return Fed(index, Arrival.NEW)
        if index < self._first or index <= self._highest - self.horizon_packets:
            return Fed(index, Arrival.STALE)
        if self._remove_missing(index, index + 1):
            self.received += 1
            self.recovered += 1
            return Fed(index, Arrival.RECOVERED)
        self.duplicates += 1
        return Fed(index, Arrival.DUPLICATE)

    def missing_indices(self) -> list[tuple[int, int]]:
        """Missing packets as half-open index ranges ``[start, stop)``, oldest first."""
        return list(zip(self._starts, self._stops, strict=True))

    def missing_ranges(self, *, settle_packets: int = 0) -> list[tuple[int, int]]:
        """Missing packets as ``(from_sequence, count)`` for BACKFILL requests, oldest first.

        Args:
            settle_packets: ignore slots fewer than this many packets behind the newest (they may
                still arrive late, e.g. interleaved with a running backfill).
        """
        if self._highest is None:
            return []
        limit = self._highest - settle_packets + 1
        out = []
        for start, stop in zip(self._starts, self._stops, strict=True):
            stop = min(stop, limit)
            if stop > start:
                out.append((start % SEQUENCE_MODULUS, stop - start))
        return out

    def mark_lost(self, from_sequence: int, count: int) -> int:
        """Give up on ``count`` packets from ``from_sequence`` (the device no longer has them).

        Returns the number of missing packets that were marked lost.
        """
        _check_sequence(from_sequence)
        if count < 0 or self._highest is None:
            return 0
        start = self.unwrap(from_sequence)
        removed = self._remove_missing(start, start + count)
        self.lost += removed
        return removed

    # --- interval bookkeeping -----------------------------------------------------------------

    def _add_missing(self, start: int, stop: int) -> None:
        # only ever called with start > every tracked index, so it appends
        self._starts.append(start)
        self._stops.append(stop)

    def _remove_missing(self, start: int, stop: int) -> int:
        """Remove [start, stop) from the missing set; return how many indices were removed."""
        removed = 0
        i = bisect.bisect_right(self._stops, start)
        while i < len(self._starts) and self._starts[i] < stop:
            a, b = self._starts[i], self._stops[i]
            lo, hi = max(a, start), min(b, stop)
            removed += hi - lo
            pieces = [(a, lo)] if lo > a else []
            if b > hi:
                pieces.append((hi, b))
            self._starts[i : i + 1] = [p[0] for p in pieces]
            self._stops[i : i + 1] = [p[1] for p in pieces]
            i += len(pieces)
        return removed

    def _expire(self) -> None:
        assert self._highest is not None
        oldest_tracked = self._highest - self.horizon_packets + 1
        if self._starts and self._starts[0] < oldest_tracked:
            self.lost += self._remove_missing(self._starts[0], oldest_tracked)


def _check_sequence(sequence: int) -> None:
    if not isinstance(sequence, int) or not 0 <= sequence < SEQUENCE_MODULUS:
        raise ValueError(f"sequence must be a u16 (0..65535), got {sequence!r}")
