"""Release packets to the analysis in sequence order, holding behind a gap until backfill fills it.

Live packets arrive in order until the link drops; after a reconnect the gateway asks the sensor
to resend the missing ones from its ring buffer, and those arrive interleaved with new live
packets. The streaming analysis needs samples in time order, so packets wait here behind a gap
until it is filled — or until the gateway gives up on it (the ring buffer no longer has them, or
the hold limit is reached), when the analysis is told of the gap instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Gap:
    """Packets ``[first_index, stop_index)`` are lost for good."""

    first_index: int
    stop_index: int

    @property
    def count(self) -> int:
        return self.stop_index - self.first_index


@dataclass(frozen=True)
class Released(Generic[T]):
    """One packet released in order (index = unwrapped sequence within the device boot)."""

    index: int
    item: T


class ReorderBuffer(Generic[T]):
    """In-order release of indexed items with explicit gap handling.

    Args:
        max_held: the most items held behind a gap; beyond it the oldest gap is given up
            (bounds memory when a gap can never be filled).
    """

    def __init__(self, *, max_held: int = 60_000) -> None:
        if max_held < 1:
            raise ValueError(f"max_held must be >= 1, got {max_held}")
        self.max_held = max_held
        self._next: int | None = None
        self._held: dict[int, T] = {}
        self.duplicates = 0

    @property
    def next_index(self) -> int | None:
        """The index the buffer waits for (None before the first packet)."""
        return self._next

    @property
    def held(self) -> int:
        return len(self._held)

    def reset(self) -> None:
        """Forget everything (e.g. the device rebooted and its sequence restarted)."""
        self._next = None
        self._held.clear()

    def start_at(self, index: int) -> None:
        """Wait for ``index`` first (e.g. resuming after a restart from a checkpoint)."""
        self.reset()
        self._next = index

    def push(self, index: int, item: T) -> list[Released[T] | Gap]:
        """Add a packet; return what can now be released, in order (with gaps given up)."""
        if self._next is None:
            self._next = index
        if index < self._next or index in self._held:
            self.duplicates += 1
            return []
        self._held[index] = item
        out = self._drain()
        while len(self._held) > self.max_held:
            out.extend(self.give_up())
        return out

    def give_up(self) -> list[Released[T] | Gap]:
        """Declare the gap in front lost: release a Gap marker and what follows it in order."""
        if not self._held or self._next is None:
            return []
        first_held = min(self._held)
        out: list[Released[T] | Gap] = []
        if first_held > self._next:
            out.append(Gap(self._next, first_held))
            self._next = first_held
        out.extend(self._drain())
        return out

    def give_up_until(self, index: int) -> list[Released[T] | Gap]:
        """Declare ``[next_index, index)`` lost (e.g. no longer in the sensor's ring buffer)."""
        if self._next is None or index <= self._next:
            return []
        out: list[Released[T] | Gap] = [Gap(self._next, index)]
        for stale in [i for i in self._held if i < index]:
            del self._held[stale]
        self._next = index
        out.extend(self._drain())
        return out

    def missing_before_held(self) -> Gap | None:
        """The gap the buffer is waiting on, if any."""
        if not self._held or self._next is None:
            return None
        first_held = min(self._held)
        return Gap(self._next, first_held) if first_held > self._next else None

    def _drain(self) -> list[Released[T] | Gap]:
        out: list[Released[T] | Gap] = []
        assert self._next is not None
        while self._next in self._held:
            out.append(Released(self._next, self._held.pop(self._next)))
            self._next += 1
        return out
