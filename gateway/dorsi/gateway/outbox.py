"""Durable on-disk outbox: a message is stored before it is published, removed once acknowledged.

SQLite in WAL mode with ``synchronous=FULL``: a message :meth:`Outbox.put` returned for survives a
crash or power loss of the gateway. Messages drain in insertion order. Disk use is bounded by
``max_bytes``; when a new message would exceed it, the oldest messages of the lowest priority go
first (activity summaries before strides); each eviction is counted and logged.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 512 * 1024 * 1024  # ≈ 150 days of strides offline at 5,000 strides/day

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_priority ON outbox (priority, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class OutboxError(RuntimeError):
    """The outbox cannot store a message (e.g. the disk is full); the caller must not drop it."""


@dataclass(frozen=True)
class OutboxMessage:
    """One stored message. ``kind`` groups messages that may be batched together (e.g. strides)."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: str


class Outbox:
    """A thread-safe durable FIFO of MQTT messages (one SQLite file)."""

    def __init__(self, path: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox at {path}: {exc}") from exc
        row = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox").fetchone()
        self._bytes = int(row[0])
        self.closed = False

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self.closed = True

    def put(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        kind: str = "message",
        priority: int = 1,
        meta: dict[str, str] | None = None,
    ) -> int:
        """Store a message durably and return its id. Higher ``priority`` is evicted later.

        ``meta`` key/values are written in the same transaction (e.g. a resume checkpoint that
        must agree with what was stored).
        """
        size = len(payload) + len(topic) + 64
        if size > self.max_bytes:
            raise OutboxError(f"message of {size} bytes exceeds the outbox limit {self.max_bytes}")
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._evict_for(size)
                cur = self._db.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain, priority, kind, size)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (topic, payload, qos, int(retain), priority, kind, size),
                )
                for key, value in (meta or {}).items():
                    self._db.execute(
                        "INSERT INTO meta VALUES (?, ?)"
                        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"cannot store a message in {self.path}: {exc}") from exc
            self._bytes += size
            assert cur.lastrowid is not None
            return int(cur.lastrowid)

    def get_meta(self, key: str) -> str | None:
        """A value stored with :meth:`put`'s ``meta`` (None if never stored)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _evict_for(self, size: int) -> None:
        while self._bytes + size > self.max_bytes:
            row = self._db.execute(
                "SELECT id, size, kind FROM outbox ORDER BY priority, id LIMIT 1"
            ).fetchone()
            if row is None:
                return
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row[0],))
            self._db.execute(
                "INSERT INTO counters VALUES ('evicted', 1)"
                " ON CONFLICT(name) DO UPDATE SET value = value + 1"
            )
            self._bytes -= int(row[1])
            log.warning(
                "outbox full (%d bytes): evicted the oldest %s message id=%d",
                self.max_bytes,
                row[2],
                row[0],
            )

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    def pending(self, limit: int = 1000, *, after_id: int = 0) -> list[OutboxMessage]:
        """The oldest ``limit`` messages with ``id > after_id``, in insertion order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain, kind FROM outbox WHERE id > ?"
                " ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [
            OutboxMessage(int(r[0]), str(r[1]), bytes(r[2]), int(r[3]), bool(r[4]), str(r[5]))
            for r in rows
        ]

    def ack(self, ids: list[int]) -> None:
        """Remove acknowledged messages (unknown ids are ignored: acks may repeat)."""
        if not ids:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    row = self._db.execute(
                        f"SELECT COALESCE(SUM(size), 0) FROM outbox WHERE id IN ({marks})", chunk
                    ).fetchone()
                    self._db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)
                    self._bytes -= int(row[0])
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"cannot remove acknowledged messages: {exc}") from exc

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    @property
    def size_bytes(self) -> int:
        """Accounted size of the stored messages (payload + topic + per-row overhead), bytes."""
        return self._bytes

    @property
    def evicted(self) -> int:
        """How many messages the disk bound has evicted since the outbox was created."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'evicted'").fetchone()
        return int(row[0]) if row else 0
