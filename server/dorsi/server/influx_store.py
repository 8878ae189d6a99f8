"""`Store` on InfluxDB through the v1 HTTP API (`/write`, `/query`, `/ping`), basic auth.

The same code serves InfluxDB 1.x, 2.x (v1 compatibility endpoints with a DBRP mapping) and 3.x.
Writes go as line protocol with microsecond precision in batches of at most ``batch_size`` points.
While influxd does not answer (connection refused, timeout, 5xx) requests are retried with
exponential backoff for up to ``retry_for_s``; then :class:`StoreUnavailable` is raised so that
ingest keeps the messages unacknowledged. Measurement, tag and field names: docs/server.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from dorsi.server.lineprotocol import (
    FieldValue,
    encode_point,
    escape_key,
    format_field,
    format_int,
)
from dorsi.server.retry import backoff_s
from dorsi.server.schema import ActivityMinute, Stride
from dorsi.server.store import (
    DEFAULT_PAGE,
    MAX_PAGE,
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
    day_start,
    from_us,
    next_cursor,
    parse_cursor,
    rollup_metrics,
    to_us,
)

STRIDE = "stride"
ACTIVITY = "activity"
BATTERY = "battery"
DAILY = "daily"
STATUS = "status"
MAX_BATCH = 5000
_DAY_FIELDS = ("strides", "slap_pct", "drag_pct", "worn_s", "walking_s")
INCOMPLETE_RETRIES = 5
_REQUIRED = ("to_t", "next_ic_t", "gateway", "algorithm", *STRIDE_INT_FIELDS)
_NEVER_NULL = ("stride_time_s", "stance_time_s", "swing_time_s", "cadence_spm", "quality")
_INPUTS_REQUIRED = tuple(
    1 + ROLLUP_INPUTS.index(n) for n in (*_NEVER_NULL, "foot_slap", "toe_drag")
)
"""Columns of a :class:`StrideMetrics` row that a complete stride point never leaves null."""


@dataclass(frozen=True)
class InfluxConfig:
    """Where and how to reach influxd; ``retry_for_s`` bounds retries of one request (s)."""

    url: str = "http://127.0.0.1:8086"
    database: str = "dorsi"
    username: str | None = None
    password: str | None = None
    batch_size: int = MAX_BATCH
    timeout_s: float = 10.0
    retry_for_s: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size {self.batch_size} is outside 1-{MAX_BATCH}")
        if not self.database or '"' in self.database or "\n" in self.database:
            raise ValueError(f"database name {self.database!r} is not usable")


def quote_string(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ns(moment: datetime) -> int:
    return to_us(moment) * 1000


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class InfluxStore:
    """Strides, activity, battery and daily rollups in one InfluxDB database."""

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        auth = (config.username, config.password or "") if config.username else None
        self._http = httpx.Client(base_url=config.url, auth=auth, timeout=config.timeout_s)

    # -- transport ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + self.config.retry_for_s
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise StoreError(
                            f"influxd refused {method} {path}: HTTP {response.status_code} "
                            f"{response.text[:500]}"
                        )
                    return response
                problem = f"HTTP {response.status_code} {response.text[:200]}"
            pause = backoff_s(attempt)
            if time.monotonic() + pause > deadline:
                raise StoreUnavailable(
                    f"influxd at {self.config.url} unavailable for {self.config.retry_for_s} s "
                    f"({problem}); check that it runs and is reachable"
                )
            time.sleep(pause)
            attempt += 1

    def _write_lines(self, lines: Iterable[str]) -> None:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= self.config.batch_size:
                self._post_batch(batch)
                batch = []
        if batch:
            self._post_batch(batch)

    def _post_batch(self, batch: list[str]) -> None:
        body = ("\n".join(batch) + "\n").encode()
        params = {"db": self.config.database, "precision": "u"}
        self._request("POST", "/write", params=params, content=body)

    def query(self, q: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; its series (``name``, ``columns``, ``values``)."""
        params = {"db": self.config.database, "epoch": "u"}
        response = self._request("POST", "/query", params=params, data={"q": q})
        results = response.json().get("results", [])
        if not results:
            return []
        if "error" in results[0]:
            raise StoreError(f"influxd query failed: {results[0]['error']} (query: {q})")
        series: list[dict[str, Any]] = results[0].get("series", [])
        return series

    def _rows(self, q: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for serie in self.query(q):
            columns = serie["columns"]
            tags = serie.get("tags", {})
            rows.extend(
                dict(tags, **dict(zip(columns, values, strict=True))) for values in serie["values"]
            )
        return rows

    # -- Store ----------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists)."""
        self._request("POST", "/query", data={"q": f'CREATE DATABASE "{self.config.database}"'})

    def ping(self) -> bool:
        """One `/ping` without retries."""
        try:
            return self._http.get("/ping", timeout=2.0).status_code == 204
        except httpx.HTTPError:
            return False

    def write_strides(self, records: Sequence[StrideRecord]) -> None:
        """Series (patient, device, side) at ``ic_t``: redelivery overwrites."""
        self._write_lines(_stride_line(r) for r in records)

    def write_activity(self, records: Sequence[ActivityRecord]) -> None:
        """Series (patient, device, side) at the minute's start."""
        self._write_lines(
            encode_point(
                ACTIVITY,
                {"patient": r.patient, "device": r.device, "side": r.side},
                {
                    "state": r.minute.state,
                    "worn_s": float(r.minute.worn_s),
                    "walking_s": float(r.minute.walking_s),
                    "strides": r.minute.strides,
                },
                to_us(r.minute.t),
            )
            for r in records
        )

    def write_battery(self, records: Sequence[BatteryRecord]) -> None:
        """Series (patient, device) at ``t``."""
        self._write_lines(
            encode_point(
                BATTERY,
                {"patient": r.patient, "device": r.device},
                {"battery_pct": float(r.battery_pct)},
                to_us(r.t),
            )
            for r in records
        )

    def write_status(self, records: Sequence[StatusRecord]) -> None:
        """Series (patient, device) at the report's ``t``."""
        self._write_lines(
            encode_point(
                STATUS,
                {"patient": r.patient, "device": r.device},
                {
                    name: float(v) if name == "battery_pct" and v is not None else v
                    for name in STATUS_FIELDS
                    if (v := getattr(r, name)) is not None
                },
                to_us(r.t),
            )
            for r in records
        )

    def latest_status(self, patient: str) -> list[StatusRecord]:
        """Newest status per device."""
        q = (
            f'SELECT * FROM "{STATUS}" WHERE "patient" = {quote_string(patient)} '
            'GROUP BY "device" ORDER BY time DESC LIMIT 1'
        )
        out = []
        for row in self._rows(q):
            values: dict[str, Any] = {name: row.get(name) for name in STATUS_FIELDS}
            if values["battery_pct"] is not None:
                values["battery_pct"] = float(values["battery_pct"])
            out.append(StatusRecord(row["patient"], row["device"], from_us(row["time"]), **values))
        return sorted(out, key=lambda r: r.device)

    def write_rollups(self, rollups: Sequence[DailyRollup]) -> None:
        """Series (patient, side) at 00:00 UTC of the day."""
        self._write_lines(
            encode_point(
                DAILY,
                {"patient": r.patient, "side": r.side},
                _rollup_fields(r),
                to_us(day_start(r.day)),
            )
            for r in rollups
        )

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
        low_ns, skip = _ns(start), 0
        if position is not None:
            low_ns, skip = max(low_ns, position[0] * 1000), position[1]
        q = (
            f'SELECT * FROM "{STRIDE}" WHERE "patient" = {quote_string(patient)} '
            f"AND time >= {low_ns} AND time < {_ns(end)} ORDER BY time ASC LIMIT {limit}"
            + (f" OFFSET {skip}" if skip else "")
        )
        for attempt in range(INCOMPLETE_RETRIES + 1):
            rows = self._rows(q)
            if all(_complete(row) for row in rows):
                break
            if attempt == INCOMPLETE_RETRIES:
                raise StoreUnavailable("influxd keeps returning incomplete stride points")
            time.sleep(backoff_s(attempt, base_s=0.02))
        records = [_stride_record(row) for row in rows]
        return StridePage(records, next_cursor(records, limit, position))

    def stride_metrics(self, patient: str, start: datetime, end: datetime) -> list[StrideMetrics]:
        """The rollup inputs of strides with ``start <= ic_t < end``, per (device, side): only
        those fields, pages of ``MAX_PAGE`` per series, retried while a point is half-written."""
        fields = ", ".join(f'"{name}"' for name in ROLLUP_INPUTS)
        q = (
            f'SELECT {fields} FROM "{STRIDE}" WHERE "patient" = {quote_string(patient)} '
            f'AND time >= {_ns(start)} AND time < {_ns(end)} GROUP BY "device", "side" '
            f"ORDER BY time ASC LIMIT {MAX_PAGE}"
        )
        for attempt in range(INCOMPLETE_RETRIES + 1):
            rows: dict[tuple[str, str], list[list[Any]]] = {}
            offset = 0
            while True:
                series = self.query(q + (f" OFFSET {offset}" if offset else ""))
                for serie in series:
                    key = (serie["tags"]["device"], serie["tags"]["side"])
                    rows.setdefault(key, []).extend(serie["values"])
                if all(len(serie["values"]) < MAX_PAGE for serie in series):
                    break
                offset += MAX_PAGE
            if all(
                row[i] is not None
                for part in rows.values()
                for row in part
                for i in _INPUTS_REQUIRED
            ):
                break
            if attempt == INCOMPLETE_RETRIES:
                raise StoreUnavailable("influxd keeps returning incomplete stride points")
            time.sleep(backoff_s(attempt, base_s=0.02))
        return [StrideMetrics(device, side, part) for (device, side), part in sorted(rows.items())]

    def query_activity(self, patient: str, start: datetime, end: datetime) -> list[ActivityRecord]:
        """Activity minutes with ``start <= t < end`` in time order."""
        q = (
            f'SELECT * FROM "{ACTIVITY}" WHERE "patient" = {quote_string(patient)} '
            f"AND time >= {_ns(start)} AND time < {_ns(end)} ORDER BY time ASC"
        )
        return [
            ActivityRecord(
                row["patient"],
                row["device"],
                row["side"],
                ActivityMinute.model_construct(
                    t=from_us(row["time"]),
                    state=row["state"],
                    worn_s=float(row["worn_s"]),
                    walking_s=float(row["walking_s"]),
                    strides=int(row["strides"]),
                ),
            )
            for row in self._rows(q)
        ]

    def latest_battery(self, patient: str) -> BatteryRecord | None:
        """Newest battery reading across the patient's devices."""
        q = (
            f'SELECT * FROM "{BATTERY}" WHERE "patient" = {quote_string(patient)} '
            "ORDER BY time DESC LIMIT 1"
        )
        rows = self._rows(q)
        if not rows:
            return None
        row = rows[0]
        return BatteryRecord(
            row["patient"], row["device"], from_us(row["time"]), float(row["battery_pct"])
        )

    def patients_with_strides(self, start: datetime, end: datetime) -> list[str]:
        """Patients with at least one stride with ``start <= ic_t < end``, sorted."""
        q = (
            f'SELECT last("quality") FROM "{STRIDE}" '
            f'WHERE time >= {_ns(start)} AND time < {_ns(end)} GROUP BY "patient"'
        )
        return sorted({serie["tags"]["patient"] for serie in self.query(q)})

    def last_stride_t(self, patient: str) -> str | None:
        """``ic_t`` of the newest stride."""
        q = f'SELECT last("quality") FROM "{STRIDE}" WHERE "patient" = {quote_string(patient)}'
        rows = self._rows(q)
        return from_us(rows[0]["time"]) if rows else None

    def query_rollups(
        self, patient: str, first: date, last: date, *, metrics: Sequence[str] | None = None
    ) -> list[DailyRollup]:
        """Daily rollups ``first <= day <= last``, by day then side (only ``metrics``' fields)."""
        names = rollup_metrics(metrics)
        columns = ["patient", "side", *_DAY_FIELDS]
        columns += [f"{name}_{stat}" for name in names for stat in STATS]
        select = ", ".join(f'"{c}"' for c in columns)
        q = (
            f'SELECT {select} FROM "{DAILY}" WHERE "patient" = {quote_string(patient)} '
            f"AND time >= {_ns(day_start(first))} "
            f"AND time < {_ns(day_start(last) + timedelta(days=1))} ORDER BY time ASC"
        )
        rollups = [_rollup(row, names) for row in self._rows(q)]
        return sorted(rollups, key=lambda r: (r.day, r.side))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()


_FLOAT_KEYS = [(name, f"{escape_key(name)}=") for name in STRIDE_FLOAT_FIELDS]
_INT_KEYS = [(name, f"{escape_key(name)}=") for name in STRIDE_INT_FIELDS]


def _stride_line(record: StrideRecord) -> str:
    """One ``stride`` point; the hot path of ingest, equal to ``encode_point`` of its fields."""
    s = record.stride
    parts = [
        f"{STRIDE},device={escape_key(record.device)},patient={escape_key(record.patient)},"
        f"side={escape_key(record.side)} "
    ]
    body = [
        f"{key}{format_field(float(v))}"
        for name, key in _FLOAT_KEYS
        if (v := getattr(s, name)) is not None
    ]
    body += [f"{key}{format_int(int(getattr(s, name)))}" for name, key in _INT_KEYS]
    body += [
        f"to_t={format_field(s.to_t)}",
        f"next_ic_t={format_field(s.next_ic_t)}",
        f"gateway={format_field(record.gateway)}",
        f"algorithm={format_field(record.algorithm)}",
    ]
    parts.append(",".join(body))
    parts.append(f" {record.ic_us}")
    return "".join(parts)


def _stride_fields(record: StrideRecord) -> dict[str, FieldValue]:
    s = record.stride
    fields: dict[str, FieldValue] = {name: _float(getattr(s, name)) for name in STRIDE_FLOAT_FIELDS}
    fields.update({name: int(getattr(s, name)) for name in STRIDE_INT_FIELDS})
    fields.update(
        to_t=s.to_t, next_ic_t=s.next_ic_t, gateway=record.gateway, algorithm=record.algorithm
    )
    return fields


def _complete(row: dict[str, Any]) -> bool:
    """False for a point read while its fields were still being written.

    influxd stores each field separately, so a query racing a write can see some fields of a
    point and not yet the others; such a read is retried.
    """
    return all(row.get(name) is not None for name in _REQUIRED)


def _inputs_complete(row: list[Any]) -> bool:
    """False for a :class:`StrideMetrics` row read while its point was half-written."""
    return all(row[i] is not None for i in _INPUTS_REQUIRED)


def _stride_record(row: dict[str, Any]) -> StrideRecord:
    values: dict[str, Any] = {name: _float(row.get(name)) for name in STRIDE_FLOAT_FIELDS}
    values.update({name: int(row[name]) for name in STRIDE_INT_FIELDS})
    stride = Stride.model_construct(
        ic_t=from_us(row["time"]), to_t=row["to_t"], next_ic_t=row["next_ic_t"], **values
    )
    return StrideRecord(
        row["patient"], row["device"], row["side"], row["gateway"], row["algorithm"], stride
    )


def _rollup_fields(rollup: DailyRollup) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {
        "strides": rollup.strides,
        "slap_pct": rollup.slap_pct,
        "drag_pct": rollup.drag_pct,
        "worn_s": float(rollup.worn_s),
        "walking_s": float(rollup.walking_s),
    }
    for name, stats in rollup.metrics.items():
        fields[f"{name}_count"] = stats.count
        for stat in STATS[1:]:
            fields[f"{name}_{stat}"] = float(getattr(stats, stat))
    return fields


def _rollup(row: dict[str, Any], names: Sequence[str] = ROLLUP_METRICS) -> DailyRollup:
    metrics = {
        name: MetricStats(
            count=int(row[f"{name}_count"]),
            **{stat: float(row[f"{name}_{stat}"]) for stat in STATS[1:]},
        )
        for name in names
        if row.get(f"{name}_count") is not None
    }
    return DailyRollup(
        patient=row["patient"],
        side=row["side"],
        day=datetime.fromisoformat(from_us(row["time"])).date(),
        strides=int(row["strides"]),
        slap_pct=_float(row.get("slap_pct")),
        drag_pct=_float(row.get("drag_pct")),
        worn_s=float(row["worn_s"]),
        walking_s=float(row["walking_s"]),
        metrics=metrics,
    )
