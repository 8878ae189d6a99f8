"""The local rolling buffer of raw packets: hourly files, pruned, readable after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from dorsi.gateway.rawbuffer import RawBuffer, read_raw

HOUR = 3600.0
T0 = 1_800_000_000.0  # on an hour boundary


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_disabled_with_zero_hours(tmp_path: Path) -> None:
    buffer = RawBuffer(tmp_path, "dorsi-1", hours=0)
    buffer.append(b"x")
    assert buffer.files() == []


def test_packets_come_back_in_order_with_times(tmp_path: Path) -> None:
    clock = FakeClock()
    buffer = RawBuffer(tmp_path, "dorsi-1", hours=2, wall_clock=clock)
    for k in range(100):
        clock.now = T0 + k * 0.1
        buffer.append(bytes([k]) * (k + 1))
    buffer.close()
    (path,) = buffer.files()
    records = list(read_raw(path))
    assert [data for _, data in records] == [bytes([k]) * (k + 1) for k in range(100)]
    assert records[5][0] == pytest.approx(T0 + 0.5)


def test_older_hours_are_pruned(tmp_path: Path) -> None:
    clock = FakeClock()
    buffer = RawBuffer(tmp_path, "dorsi-1", hours=2, wall_clock=clock)
    for hour in range(6):
        clock.now = T0 + hour * HOUR + 10
        buffer.append(b"packet")
    buffer.close()
    # T0 is 2027-01-15T08:00Z; at 13:00 the files of 08-10 h are older than 2 h + 1 h spare.
    assert [p.stem for p in buffer.files()] == ["20270115T11", "20270115T12", "20270115T13"]


def test_a_record_cut_by_a_crash_is_skipped(tmp_path: Path) -> None:
    buffer = RawBuffer(tmp_path, "dorsi-1", hours=1, wall_clock=FakeClock())
    buffer.append(b"complete")
    buffer.append(b"cut short")
    buffer.close()
    (path,) = buffer.files()
    path.write_bytes(path.read_bytes()[:-3])
    assert [data for _, data in read_raw(path)] == [b"complete"]


def test_unwritable_directory_disables_it_without_raising(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    buffer = RawBuffer(blocker, "dorsi-1", hours=1)
    buffer.append(b"x")
    assert buffer.failed
