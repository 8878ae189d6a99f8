"""The audit log table: who listed, viewed, exported, reported on, created or changed which
patient's data, when (UTC), through which route, from which client address, with what outcome.

It lives in the registry database and is append-only: SQLite triggers refuse UPDATE and DELETE.
Outcomes: ``ok`` (2xx/3xx), ``denied`` (the user may not see that patient; the client got 404),
``failed`` (any other error, e.g. 422 for bad parameters); denied and failed requests are kept
but are not views. :mod:`dorsi.server.audit_http` writes the entries for the HTTP routes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

AuditAction = Literal["list", "view", "export", "report", "create", "edit"]
Outcome = Literal["ok", "denied", "failed"]
ACTIONS: frozenset[str] = frozenset(get_args(AuditAction))
MAX_QUERY = 10_000
_MAX_ID_CHARS = 128
_MAX_PATH_CHARS = 512

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, t TEXT NOT NULL, username TEXT NOT NULL,
    role TEXT NOT NULL, action TEXT NOT NULL, patient_id TEXT NOT NULL, method TEXT NOT NULL,
    path TEXT NOT NULL, status INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')), client_ip TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_log_patient ON audit_log (patient_id, id);
CREATE INDEX IF NOT EXISTS audit_log_user ON audit_log (username, id);
CREATE INDEX IF NOT EXISTS audit_log_t ON audit_log (t);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def utc_stamp(moment: datetime) -> str:
    """``2026-03-05T10:00:00.000000Z`` (sorts like time)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log; ``t`` in UTC, ``path`` the requested URL path (no query)."""

    id: int
    t: str
    username: str
    role: str
    action: str
    patient_id: str
    method: str
    path: str
    status: int
    outcome: Outcome
    client_ip: str


class AuditLog:
    """The append-only ``audit_log`` table, sharing the registry's connection and lock."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        """``db`` in autocommit mode; ``lock`` serialises every use of it."""
        self._db = db
        self._lock = lock
        with lock:
            db.executescript(SCHEMA)

    def append(self, rows: Sequence[AuditEntry]) -> None:
        """Append ``rows`` (their ``id`` is ignored) in one transaction."""
        if not rows:
            return
        values = [
            (
                r.t,
                r.username,
                r.role,
                r.action,
                r.patient_id[:_MAX_ID_CHARS],
                r.method,
                r.path[:_MAX_PATH_CHARS],
                r.status,
                r.outcome,
                r.client_ip,
            )
            for r in rows
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO audit_log (t, username, role, action, patient_id, method, path, "
                    "status, outcome, client_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(
        self,
        *,
        patient_id: str | None = None,
        username: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries newest first: ``since <= t < until``; ``before_id`` pages further back."""
        if not 1 <= limit <= MAX_QUERY:
            raise ValueError(f"limit must be 1–{MAX_QUERY}, got {limit}")
        where, params = [], []
        for clause, value in (
            ("patient_id = ?", patient_id),
            ("username = ?", username),
            ("t >= ?", utc_stamp(since) if since else None),
            ("t < ?", utc_stamp(until) if until else None),
            ("id < ?", before_id),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = (
            "SELECT id, t, username, role, action, patient_id, method, path, status, outcome, "
            "client_ip FROM audit_log"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*params, limit)).fetchall()
        return [AuditEntry(*row) for row in rows]
