"""SequenceTracker: u16 unwrap, gaps across 65535→0, duplicates, reordering, backfill planning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dorsi.firmware_protocol.stream import Arrival, SequenceTracker


def _feed_all(tracker: SequenceTracker, sequences: list[int]) -> list[tuple[int, Arrival]]:
    return [(f.index, f.arrival) for f in (tracker.feed(s) for s in sequences)]


def test_empty() -> None:
    tracker = SequenceTracker()
    assert tracker.missing_ranges() == []
    assert tracker.highest_index is None
    with pytest.raises(ValueError, match="no packet fed yet"):
        tracker.unwrap(3)


def test_basic_in_order_has_no_gaps() -> None:
    tracker = SequenceTracker()
    result = _feed_all(tracker, list(range(100, 110)))
    assert [i for i, _ in result] == list(range(100, 110))
    assert {a for _, a in result} == {Arrival.NEW}
    assert tracker.missing_ranges() == []
    assert tracker.received == 10


def test_wraparound_without_gap_unwraps_monotonically() -> None:
    tracker = SequenceTracker()
    result = _feed_all(tracker, [65534, 65535, 0, 1])
    assert [i for i, _ in result] == [65534, 65535, 65536, 65537]
    assert tracker.missing_ranges() == []


def test_gap_across_wraparound_and_partial_backfill() -> None:
    tracker = SequenceTracker()
    _feed_all(tracker, [65532, 65533, 2])  # 65534, 65535, 0, 1 lost on air
    assert tracker.missing_ranges() == [(65534, 4)]
    assert tracker.missing_indices() == [(65534, 65538)]
    assert tracker.feed(65535).arrival is Arrival.RECOVERED
    assert tracker.missing_ranges() == [(65534, 1), (0, 2)]
    assert tracker.feed(65535).arrival is Arrival.DUPLICATE
    assert tracker.feed(0).index == 65536
    assert tracker.missing_ranges() == [(65534, 1), (1, 1)]
    assert tracker.missing_count == 2
    assert tracker.duplicates == 1
    assert tracker.recovered == 2


def test_reordering_is_tolerated_and_settle_hides_fresh_gaps() -> None:
    tracker = SequenceTracker()
    _feed_all(tracker, [10, 11, 13, 14])
    assert tracker.missing_ranges() == [(12, 1)]
    assert tracker.missing_ranges(settle_packets=3) == []  # 12 is only 2 behind the newest
    assert tracker.missing_ranges(settle_packets=2) == [(12, 1)]
    assert tracker.feed(12).arrival is Arrival.RECOVERED
    assert tracker.missing_ranges() == []


def test_gaps_older_than_horizon_count_as_lost() -> None:
    tracker = SequenceTracker(horizon_packets=100)
    _feed_all(tracker, [0, 50, 120])  # horizon 21..120: missing 21..49 and 51..119
    assert tracker.missing_count == 29 + 69
    assert tracker.lost == 20
    tracker.feed(160)  # horizon now covers 61..160
    assert tracker.missing_indices() == [(61, 120), (121, 160)]
    assert tracker.lost == 49 + 10
    assert tracker.feed(30).arrival is Arrival.STALE


def test_mark_lost_after_backfill_unavailable() -> None:
    tracker = SequenceTracker()
    _feed_all(tracker, [0, 10])
    assert tracker.mark_lost(1, 4) == 4
    assert tracker.missing_ranges() == [(5, 5)]
    assert tracker.lost == 4


def test_reset_after_reboot_starts_over() -> None:
    tracker = SequenceTracker()
    _feed_all(tracker, [500, 503])
    tracker.reset()
    assert tracker.lost == 2
    assert tracker.feed(0).index == 0
    assert tracker.missing_ranges() == []


@pytest.mark.parametrize("bad", [-1, 65536])
def test_raises_for_non_u16(bad: int) -> None:
    with pytest.raises(ValueError, match="sequence must be a u16"):
        SequenceTracker().feed(bad)
    with pytest.raises(ValueError, match=r"horizon_packets must be in 1\.\.32767"):
        SequenceTracker(horizon_packets=40000)


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[int, list[int]]:
    """A stream of true packet indices: forward steps with gaps, plus late/duplicate packets."""
    first = draw(st.integers(0, 65535))
    indices = [first]
    highest = first
    for _ in range(draw(st.integers(1, 300))):
        if draw(st.integers(0, 3)) == 0:  # a late or repeated packet within 2000 of the newest
            indices.append(draw(st.integers(max(first, highest - 2000), highest)))
        else:
            highest += draw(st.sampled_from([1, 1, 1, 2, 5, 700, 9000]))
            indices.append(highest)
    return first, indices


@settings(max_examples=100, deadline=None)
@given(arrivals())
def test_matches_reference_model_over_many_wraps(case: tuple[int, list[int]]) -> None:
    first, indices = case
    tracker = SequenceTracker(horizon_packets=20000)
    seen: set[int] = set()
    highest = first
    for true_index in indices:
        fed = tracker.feed(true_index % 65536)
        assert fed.index == true_index
        highest = max(highest, true_index) if seen else true_index
        if true_index in seen:
            expected = Arrival.DUPLICATE
        elif not seen or true_index == highest:
            expected = Arrival.NEW
        elif true_index <= highest - 20000:
            expected = Arrival.STALE
        else:
            expected = Arrival.RECOVERED
        assert fed.arrival is expected
        if expected is not Arrival.STALE:
            seen.add(true_index)
    highest = max(seen)
    expected_missing = {
        i for i in range(max(first, highest - 20000 + 1), highest + 1) if i not in seen
    }
    got_missing = {i for a, b in tracker.missing_indices() for i in range(a, b)}
    assert got_missing == expected_missing
    assert tracker.received == len(seen)
    for from_sequence, count in tracker.missing_ranges():
        assert 0 <= from_sequence < 65536
        assert 1 <= count <= 20000
