"""In-order release behind gaps: every packet reaches the analysis once, in order, or as a gap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dorsi.gateway.reorder import Gap, Released, ReorderBuffer


def _indices(out: list[Released[str] | Gap]) -> list[int]:
    return [r.index for r in out if isinstance(r, Released)]


def test_empty() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer()
    assert buffer.give_up() == []
    assert buffer.missing_before_held() is None


def test_in_order_passes_straight_through() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer()
    assert _indices(buffer.push(10, "a")) == [10]
    assert _indices(buffer.push(11, "b")) == [11]


def test_holds_behind_a_gap_until_backfill_fills_it() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer()
    buffer.push(0, "p0")
    assert buffer.push(3, "p3") == []
    assert buffer.push(4, "p4") == []
    assert buffer.missing_before_held() == Gap(1, 3)
    assert _indices(buffer.push(2, "p2")) == []
    assert _indices(buffer.push(1, "p1")) == [1, 2, 3, 4]
    assert buffer.held == 0


def test_give_up_reports_the_gap_then_releases() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer()
    buffer.push(0, "p0")
    buffer.push(5, "p5")
    out = buffer.give_up()
    assert out[0] == Gap(1, 5)
    assert _indices(out) == [5]
    assert buffer.push(3, "late") == [], "a packet from a given-up gap is dropped"
    assert buffer.duplicates == 1


def test_give_up_until_skips_only_the_lost_part() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer()
    buffer.push(0, "p0")
    buffer.push(10, "p10")
    out = buffer.give_up_until(6)  # 1-5 were overwritten in the ring; 6-9 are coming
    assert out == [Gap(1, 6)]
    assert buffer.missing_before_held() == Gap(6, 10)
    assert _indices(buffer.push(7, "p7") + buffer.push(6, "p6")) == [6, 7]
    assert buffer.give_up_until(3) == []


def test_memory_is_bounded() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(max_held=10)
    buffer.push(0, 0)
    out: list[Released[int] | Gap] = []
    for i in range(2, 30):
        out.extend(buffer.push(i, i))
    assert buffer.held <= 10
    assert Gap(1, 2) in out


def test_raises() -> None:
    with pytest.raises(ValueError, match="max_held"):
        ReorderBuffer(max_held=0)


@given(st.permutations(list(range(60))), st.integers(min_value=0, max_value=3))
def test_any_arrival_order_releases_each_packet_once_in_order(
    order: list[int], duplicates: int
) -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer()
    released: list[int] = []
    for i in [0, *[x for x in order if x != 0], *order[:duplicates]]:
        released.extend(_indices(buffer.push(i, i)))
    assert released == list(range(60))
