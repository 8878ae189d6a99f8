"""The virtual sensor's ring buffer: what a BACKFILL request can get back."""

from __future__ import annotations

import pytest

from dorsi.firmware_protocol.virtual.ring import MAX_CAPACITY_PACKETS, PacketRing


def _fill(ring: PacketRing, first: int, n: int) -> None:
    for k in range(n):
        seq = (first + k) % 65536
        ring.append(seq, seq.to_bytes(2, "little") + bytes([k % 256]))


def test_empty() -> None:
    ring = PacketRing(4)
    assert len(ring) == 0
    assert ring.newest_sequence is None
    assert ring.oldest_sequence is None
    assert ring.request(0, 1) is None


def test_basic_slice_in_order() -> None:
    ring = PacketRing(10)
    _fill(ring, 0, 6)
    part = ring.request(2, 3)
    assert part is not None
    assert part.first_sequence == 2
    assert [int.from_bytes(p[:2], "little") for p in part.packets] == [2, 3, 4]


def test_overwritten_start_is_served_from_oldest() -> None:
    ring = PacketRing(4)
    _fill(ring, 0, 10)  # keeps 6..9
    assert (ring.oldest_sequence, ring.newest_sequence) == (6, 9)
    part = ring.request(3, 5)  # asks 3..7, 3..5 are gone
    assert part is not None
    assert part.first_sequence == 6
    assert len(part.packets) == 2


def test_fully_overwritten_or_future_is_unavailable() -> None:
    ring = PacketRing(4)
    _fill(ring, 0, 10)
    assert ring.request(0, 3) is None
    assert ring.request(10, 5) is None  # not sent yet


def test_request_clipped_at_newest() -> None:
    ring = PacketRing(8)
    _fill(ring, 0, 5)
    part = ring.request(3, 100)
    assert part is not None
    assert len(part.packets) == 2


def test_sequence_wraparound() -> None:
    ring = PacketRing(16)
    _fill(ring, 65530, 12)  # 65530..65535, 0..5
    part = ring.request(65534, 4)
    assert part is not None
    assert part.first_sequence == 65534
    assert [int.from_bytes(p[:2], "little") for p in part.packets] == [65534, 65535, 0, 1]


def test_clear_forgets_everything() -> None:
    ring = PacketRing(8)
    _fill(ring, 0, 5)
    ring.clear()
    assert ring.request(0, 5) is None
    _fill(ring, 0, 2)  # a rebooted device starts again at 0
    assert ring.newest_sequence == 1


def test_raises() -> None:
    with pytest.raises(ValueError, match="capacity"):
        PacketRing(0)
    with pytest.raises(ValueError, match="capacity"):
        PacketRing(MAX_CAPACITY_PACKETS + 1)
    ring = PacketRing(4)
    _fill(ring, 0, 2)
    with pytest.raises(ValueError, match="expects sequence 2"):
        ring.append(5, b"x")
    with pytest.raises(ValueError, match="count"):
        ring.request(0, 0)
    with pytest.raises(ValueError, match="u16"):
        ring.request(70000, 1)
