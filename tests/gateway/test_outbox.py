"""The durable outbox: order, durability across reopen, the disk bound, and full disks."""

from __future__ import annotations

from pathlib import Path

import pytest

from dorsi.gateway.outbox import Outbox, OutboxError


def test_empty(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    assert len(box) == 0
    assert box.pending() == []
    assert box.size_bytes == 0


def test_messages_survive_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    ids = [box.put("dorsi/v1/p/d/strides", f"{i}".encode(), kind="stride") for i in range(50)]
    box.ack(ids[:10])
    box.close()

    reopened = Outbox(path)
    pending = reopened.pending(limit=1000)
    assert [m.payload for m in pending] == [f"{i}".encode() for i in range(10, 50)]
    assert [m.id for m in pending] == ids[10:]
    assert reopened.size_bytes > 0
    assert reopened.pending(limit=5, after_id=ids[20])[0].id == ids[21]


def test_repeated_and_unknown_acks_are_harmless(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    first = box.put("t", b"a")
    second = box.put("t", b"b")
    box.ack([first, first, 999])
    assert [m.id for m in box.pending()] == [second]
    box.ack([second])
    assert box.size_bytes == 0


def test_disk_bound_evicts_lowest_priority_oldest_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Outbox(tmp_path / "outbox.db", max_bytes=2000)
    box.put("t", b"x" * 100, kind="activity", priority=0)
    strides = [box.put("t", b"s" * 100, kind="stride", priority=1) for _ in range(8)]
    box.put("t", b"a" * 100, kind="activity", priority=0)
    assert box.evicted == 0
    for _ in range(6):
        box.put("t", b"n" * 100, kind="stride", priority=1)
    kinds = [m.kind for m in box.pending()]
    assert "activity" not in kinds, "activity summaries are evicted before any stride"
    assert box.evicted >= 2
    assert box.size_bytes <= 2000
    remaining = {m.id for m in box.pending()}
    assert strides[0] not in remaining, "then the oldest strides"
    assert strides[-1] in remaining
    assert "outbox full" in caplog.text


def test_too_large_message_is_refused_not_dropped(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", max_bytes=1000)
    with pytest.raises(OutboxError, match="exceeds the outbox limit"):
        box.put("t", b"x" * 2000)


def test_full_disk_raises_and_keeps_what_was_stored(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    kept = box.put("t", b"kept")
    # Simulate a full disk: SQLite may not grow the file any further.
    pages = box._db.execute("PRAGMA page_count").fetchone()[0]
    box._db.execute(f"PRAGMA max_page_count = {pages}")

    def fill_the_disk() -> None:
        for _ in range(1000):
            box.put("t", b"y" * 4000)

    with pytest.raises(OutboxError, match="cannot store"):
        fill_the_disk()
    box._db.execute("PRAGMA max_page_count = 1073741823")
    assert box.pending()[0].id == kept
    box.put("t", b"after")  # recovers once there is room again


def test_unopenable_path_gives_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "dir-not-file"
    target.mkdir()
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(target)


def test_what_put_returned_survives_sigkill(tmp_path: Path) -> None:
    """A real process killed with SIGKILL mid-write: every message whose put() returned is there."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "outbox.db"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from dorsi.gateway.outbox import Outbox\n"
            f"box = Outbox({str(path)!r})\n"
            "for n in range(1_000_000):\n"
            "    mid = box.put('dorsi/v1/p/d/strides', b'x' * 300, kind='stride')\n"
            "    print(mid, flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = [int(child.stdout.readline()) for _ in range(300)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    stored = {m.id for m in Outbox(path).pending(limit=2_000_000)}
    assert set(acknowledged) <= stored
