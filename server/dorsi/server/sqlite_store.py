"""`Store` on SQLite (WAL mode): the embedded default for the demo and small single-site installs.

Tables mirror the InfluxDB measurements (docs/server.md); primary keys are the identities, and
``INSERT OR REPLACE`` makes redelivery overwrite. ``synchronous=FULL``: a write that returned is
on disk. A database locked for longer than ``busy_timeout_s`` raises :class:`StoreUnavailable`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from dorsi.server.schema import ActivityMinute, Stride
from dorsi.server.store import (
    DEFAULT_PAGE,
    ROLLUP_INPUTS,
    ROLLUP_METRICS,
    STATS,
    STATUS_FIELDS,
    STRIDE_FLOAT_FIELDS,
    STRIDE_INT_FIELDS,
    ActivityRecord,
    BatteryRecord,
    DailyRollup,
    MetricStats,
    StatusRecord,
    StoreError,
    StoreUnavailable,
    StrideMetrics,
    StridePage,
    StrideRecord,
    check_limit,
    from_us,
    next_cursor,
    parse_cursor,
    rollup_metrics,
    to_us,
)

_STRIDE_COLUMNS = (
    "patient",
    "device",
    "side",
    "ic_us",
    "to_t",
    "next_ic_t",
    "gateway",
    "algorithm",
    *STRIDE_FLOAT_FIELDS,
    *STRIDE_INT_FIELDS,
)
_METRIC_COLUMNS = tuple(f"{m}_{s}" for m in ROLLUP_METRICS for s in STATS)
_DAILY_COLUMNS = (
    "patient",
    "side",
    "day",
    "strides",
    "slap_pct",
    "drag_pct",
    "worn_s",
    "walking_s",
    *_METRIC_COLUMNS,
)


def _schema() -> str:
    floats = ", ".join(f"{name} REAL" for name in STRIDE_FLOAT_FIELDS)
    ints = ", ".join(f"{name} INTEGER NOT NULL" for name in STRIDE_INT_FIELDS)
    metrics = ", ".join(
        f"{c} {'INTEGER' if c.endswith('_count') else 'REAL'}" for c in _METRIC_COLUMNS
    )
    return f"""
    CREATE TABLE IF NOT EXISTS stride (
        patient TEXT NOT NULL, device TEXT NOT NULL, side TEXT NOT NULL, ic_us INTEGER NOT NULL,
        to_t TEXT NOT NULL, next_ic_t TEXT NOT NULL, gateway TEXT NOT NULL,
        algorithm TEXT NOT NULL, {floats}, {ints},
        PRIMARY KEY (patient, ic_us, device, side)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS activity (
        patient TEXT NOT NULL, device TEXT NOT NULL, side TEXT NOT NULL, t_us INTEGER NOT NULL,
        state TEXT NOT NULL, worn_s REAL NOT NULL, walking_s REAL NOT NULL,
        strides INTEGER NOT NULL,
        PRIMARY KEY (patient, t_us, device)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS battery (
        patient TEXT NOT NULL, device TEXT NOT NULL, t_us INTEGER NOT NULL,
        battery_pct REAL NOT NULL,
        PRIMARY KEY (patient, t_us, device)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS status (
        patient TEXT NOT NULL, device TEXT NOT NULL, t_us INTEGER NOT NULL, state TEXT NOT NULL,
        side TEXT, gateway TEXT, link TEXT, battery_pct REAL, firmware TEXT, last_stride_t TEXT,
        outbox_backlog INTEGER,
        PRIMARY KEY (patient, device, t_us)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS daily (
        patient TEXT NOT NULL, side TEXT NOT NULL, day TEXT NOT NULL, strides INTEGER NOT NULL,
        slap_pct REAL, drag_pct REAL, worn_s REAL NOT NULL, walking_s REAL NOT NULL, {metrics},
        PRIMARY KEY (patient, day, side)) WITHOUT ROWID;
    """


def _upsert(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})"


class SQLiteStore:
    """Strides, activity, battery and daily rollups in one SQLite file (WAL)."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (rolled back on any error).

        Raises StoreUnavailable for the environment (locked, disk full, I/O error: retrying can
        help) and StoreError for values SQLite refuses (an integer beyond 64 bits, text that is
        not UTF-8, a constraint): retrying the same rows cannot help.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreUnavailable(f"SQLite store {self.path} is locked: {exc}") from exc
                raise StoreUnavailable(f"SQLite store {self.path} unavailable: {exc}") from exc
            except (OverflowError, UnicodeError, sqlite3.Error) as exc:
                raise StoreError(f"SQLite store {self.path} refused the rows: {exc}") from exc

    def _select(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc

    def bootstrap(self) -> None:
        """Create the tables if missing."""
        with self._lock:
            self._db.executescript(_schema())

    def ping(self) -> bool:
        """True if the file answers a trivial query."""
        try:
            self._select("SELECT 1", ())
        except StoreError:
            return False
        return True

    def write_strides(self, records: Sequence[StrideRecord]) -> None:
        """One transaction; identity (patient, ic_t, device, side) overwrites."""
        rows = [
            (
                r.patient,
                r.device,
                r.side,
                r.ic_us,
                r.stride.to_t,
                r.stride.next_ic_t,
                r.gateway,
                r.algorithm,
                *(getattr(r.stride, n) for n in STRIDE_FLOAT_FIELDS),
                *(int(getattr(r.stride, n)) for n in STRIDE_INT_FIELDS),
            )
            for r in records
        ]
        with self._transaction() as db:
            db.executemany(_upsert("stride", _STRIDE_COLUMNS), rows)

    def write_activity(self, records: Sequence[ActivityRecord]) -> None:
        """Identity (patient, t, device) overwrites."""
        columns = ("patient", "device", "side", "t_us", "state", "worn_s", "walking_s", "strides")
        rows = [
            (
                r.patient,
                r.device,
                r.side,
                to_us(r.minute.t),
                r.minute.state,
                r.minute.worn_s,
                r.minute.walking_s,
                r.minute.strides,
            )
            for r in records
        ]
        with self._transaction() as db:
            db.executemany(_upsert("activity", columns), rows)

    def write_battery(self, records: Sequence[BatteryRecord]) -> None:
        """Identity (patient, t, device) overwrites."""
        rows = [(r.patient, r.device, to_us(r.t), r.battery_pct) for r in records]
        with self._transaction() as db:
            db.executemany(_upsert("battery", ("patient", "device", "t_us", "battery_pct")), rows)

    def write_status(self, records: Sequence[StatusRecord]) -> None:
        """Identity (patient, device, t) overwrites."""
        columns = ("patient", "device", "t_us", *STATUS_FIELDS)
        rows = [
            (r.patient, r.device, to_us(r.t), *(getattr(r, n) for n in STATUS_FIELDS))
            for r in records
        ]
        with self._transaction() as db:
            db.executemany(_upsert("status", columns), rows)

    def latest_status(self, patient: str) -> list[StatusRecord]:
        """Newest status per device."""
        rows = self._select(
            "SELECT s.* FROM status s WHERE s.patient = ? AND s.t_us = (SELECT max(t_us) "
            "FROM status WHERE patient = s.patient AND device = s.device) ORDER BY s.device",
            (patient,),
        )
        return [
            StatusRecord(
                row["patient"],
                row["device"],
                from_us(row["t_us"]),
                **{name: row[name] for name in STATUS_FIELDS},
            )
            for row in rows
        ]

    def write_rollups(self, rollups: Sequence[DailyRollup]) -> None:
        """Identity (patient, day, side) overwrites."""
        rows = []
        for r in rollups:
            metric_values: list[float | int | None] = []
            for name in ROLLUP_METRICS:
                stats = r.metrics.get(name)
                metric_values.extend(
                    getattr(stats, s) if stats is not None else None for s in STATS
                )
            rows.append(
                (
                    r.patient,
                    r.side,
                    r.day.isoformat(),
                    r.strides,
                    r.slap_pct,
                    r.drag_pct,
                    r.worn_s,
                    r.walking_s,
                    *metric_values,
                )
            )
        with self._transaction() as db:
            db.executemany(_upsert("daily", _DAILY_COLUMNS), rows)

    def query_strides(
        self,
        patient: str,
        start: datetime,
        end: datetime,
        *,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> StridePage:
        """Strides with ``start <= ic_t < end``, time order, keyset pages."""
        check_limit(limit)
        position = parse_cursor(cursor)
        low, skip = to_us(start), 0
        if position is not None:
            low, skip = max(low, position[0]), position[1]
        rows = self._select(
            f"SELECT {', '.join(_STRIDE_COLUMNS)} FROM stride WHERE patient = ? AND ic_us >= ? "
            "AND ic_us < ? ORDER BY ic_us, device, side LIMIT ? OFFSET ?",
            (patient, low, to_us(end), limit, skip),
        )
        records = [_stride_record(row) for row in rows]
        return StridePage(records, next_cursor(records, limit, position))

    def stride_metrics(self, patient: str, start: datetime, end: datetime) -> list[StrideMetrics]:
        """The rollup inputs of strides with ``start <= ic_t < end``, per (device, side)."""
        rows = self._select(
            f"SELECT device, side, ic_us, {', '.join(ROLLUP_INPUTS)} FROM stride "
            "WHERE patient = ? AND ic_us >= ? AND ic_us < ? ORDER BY device, side, ic_us",
            (patient, to_us(start), to_us(end)),
        )
        return [
            StrideMetrics(device, side, [list(row)[2:] for row in series])
            for (device, side), series in groupby(rows, key=lambda row: (row[0], row[1]))
        ]

    def query_activity(self, patient: str, start: datetime, end: datetime) -> list[ActivityRecord]:
        """Activity minutes with ``start <= t < end`` in time order."""
        rows = self._select(
            "SELECT * FROM activity WHERE patient = ? AND t_us >= ? AND t_us < ? "
            "ORDER BY t_us, device",
            (patient, to_us(start), to_us(end)),
        )
        return [
            ActivityRecord(
                row["patient"],
                row["device"],
                row["side"],
                ActivityMinute.model_construct(
                    t=from_us(row["t_us"]),
                    state=row["state"],
                    worn_s=row["worn_s"],
                    walking_s=row["walking_s"],
                    strides=row["strides"],
                ),
            )
            for row in rows
        ]

    def latest_battery(self, patient: str) -> BatteryRecord | None:
        """Newest battery reading across the patient's devices."""
        rows = self._select(
            "SELECT * FROM battery WHERE patient = ? ORDER BY t_us DESC LIMIT 1", (patient,)
        )
        if not rows:
            return None
        row = rows[0]
        return BatteryRecord(
            row["patient"], row["device"], from_us(row["t_us"]), row["battery_pct"]
        )

    def patients_with_strides(self, start: datetime, end: datetime) -> list[str]:
        """Patients with at least one stride with ``start <= ic_t < end``, sorted."""
        rows = self._select(
            "SELECT DISTINCT patient FROM stride WHERE ic_us >= ? AND ic_us < ? ORDER BY patient",
            (to_us(start), to_us(end)),
        )
        return [row["patient"] for row in rows]

    def last_stride_t(self, patient: str) -> str | None:
        """``ic_t`` of the newest stride."""
        rows = self._select("SELECT max(ic_us) AS t FROM stride WHERE patient = ?", (patient,))
        return from_us(rows[0]["t"]) if rows and rows[0]["t"] is not None else None

    def query_rollups(
        self, patient: str, first: date, last: date, *, metrics: Sequence[str] | None = None
    ) -> list[DailyRollup]:
        """Daily rollups ``first <= day <= last``, by day then side (only ``metrics``' columns)."""
        names = rollup_metrics(metrics)
        columns = [*_DAILY_COLUMNS[:8], *(f"{n}_{s}" for n in names for s in STATS)]
        rows = self._select(
            f"SELECT {', '.join(columns)} FROM daily WHERE patient = ? AND day >= ? AND day <= ? "
            "ORDER BY day, side",
            (patient, first.isoformat(), last.isoformat()),
        )
        return [_rollup(row, names) for row in rows]

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


def _stride_record(row: sqlite3.Row) -> StrideRecord:
    values: dict[str, Any] = {
        name: row[name] for name in (*STRIDE_FLOAT_FIELDS, *STRIDE_INT_FIELDS)
    }
    stride = Stride.model_construct(
        ic_t=from_us(row["ic_us"]), to_t=row["to_t"], next_ic_t=row["next_ic_t"], **values
    )
    return StrideRecord(
        row["patient"], row["device"], row["side"], row["gateway"], row["algorithm"], stride
    )


def _rollup(row: sqlite3.Row, names: Sequence[str]) -> DailyRollup:
    metrics = {
        name: MetricStats(count=row[f"{name}_count"], **{s: row[f"{name}_{s}"] for s in STATS[1:]})
        for name in names
        if row[f"{name}_count"] is not None
    }
    return DailyRollup(
        patient=row["patient"],
        side=row["side"],
        day=date.fromisoformat(row["day"]),
        strides=row["strides"],
        slap_pct=row["slap_pct"],
        drag_pct=row["drag_pct"],
        worn_s=row["worn_s"],
        walking_s=row["walking_s"],
        metrics=metrics,
    )
