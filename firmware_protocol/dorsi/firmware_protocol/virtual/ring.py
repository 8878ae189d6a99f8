"""The device's ring buffer of recently sent data packets, answering BACKFILL requests.

Packets are kept as encoded bytes under their u16 sequence number. Internally every packet also
gets an unbounded index so a request survives the 65535 → 0 wraparound; a requested
``from_sequence`` is resolved to the most recent packet carrying it.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

from dorsi.firmware_protocol.constants import MAX_RING_PACKETS, SEQUENCE_MODULUS

MAX_CAPACITY_PACKETS = MAX_RING_PACKETS
"""The protocol's bound (SPEC.md): beyond half the u16 sequence space a request is ambiguous."""


@dataclass(frozen=True)
class BackfillSlice:
    """The part of a BACKFILL request the ring can serve."""

    first_sequence: int
    """u16 sequence of ``packets[0]``."""
    packets: tuple[bytes, ...]
    """Encoded packets in sequence order, as first sent (no BACKFILL flag)."""


class PacketRing:
    """Fixed-capacity FIFO of the most recent ``capacity_packets`` encoded packets."""

    def __init__(self, capacity_packets: int) -> None:
        if not 1 <= capacity_packets <= MAX_CAPACITY_PACKETS:
            raise ValueError(
                f"ring capacity must be 1..{MAX_CAPACITY_PACKETS} packets, got {capacity_packets}"
            )
        self.capacity_packets = capacity_packets
        self._packets: deque[bytes] = deque(maxlen=capacity_packets)
        self._next_index = 0  # unbounded index of the next appended packet

    def __len__(self) -> int:
        return len(self._packets)

    @property
    def newest_sequence(self) -> int | None:
        """u16 sequence of the newest stored packet, None when empty."""
        return None if not self._packets else (self._next_index - 1) % SEQUENCE_MODULUS

    @property
    def oldest_sequence(self) -> int | None:
        """u16 sequence of the oldest stored packet, None when empty."""
        if not self._packets:
            return None
        return (self._next_index - len(self._packets)) % SEQUENCE_MODULUS

    def append(self, sequence: int, packet: bytes) -> None:
        """Store ``packet`` sent with u16 ``sequence``; it must follow the previous one.

        Raises ValueError for an out-of-order sequence (call :meth:`clear` after a reboot).
        """
        if self._packets:
            expected = self._next_index % SEQUENCE_MODULUS
            if sequence != expected:
                raise ValueError(f"ring expects sequence {expected}, got {sequence}")
        else:
            self._next_index = sequence
        self._packets.append(bytes(packet))
        self._next_index += 1

    def clear(self) -> None:
        """Forget everything (device reboot: RAM is lost)."""
        self._packets.clear()
        self._next_index = 0

    def request(self, from_sequence: int, count: int) -> BackfillSlice | None:
        """Return the stored part of ``count`` packets starting at u16 ``from_sequence``.

        When the start has already been overwritten, the slice starts at the oldest stored
        packet. Returns None when no requested packet is stored. ValueError for bad arguments.
        """
        if not 0 <= from_sequence < SEQUENCE_MODULUS:
            raise ValueError(f"from_sequence must be a u16, got {from_sequence}")
        if not 1 <= count < SEQUENCE_MODULUS:
            raise ValueError(f"count must be 1..65535, got {count}")
        if not self._packets:
            return None
        newest_index = self._next_index - 1
        oldest_index = self._next_index - len(self._packets)
        start = newest_index - (newest_index - from_sequence) % SEQUENCE_MODULUS
        stop = min(start + count, newest_index + 1)
        start = max(start, oldest_index)
        if stop <= start:
            return None
        offset = start - oldest_index
        packets = tuple(itertools.islice(self._packets, offset, offset + stop - start))
        return BackfillSlice(first_sequence=start % SEQUENCE_MODULUS, packets=packets)
