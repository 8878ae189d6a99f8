"""The `Store` protocol: what ingest, rollups and the API need from a time-series store.

Identity: a stride is stored under series (patient, device, side) at timestamp ``ic_t``, an
activity minute under (patient, device, side) at ``t``, a battery reading under (patient, device)
at ``t``, a daily rollup under (patient, side) at the day's 00:00 UTC. Writing the same identity
again overwrites, so redelivered messages never double-count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from dorsi.server.schema import ActivityMinute, Stride, format_utc, parse_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ROLLUP_METRICS = (
    "stride_time_s",
    "stance_time_s",
    "swing_time_s",
    "cadence_spm",
    "stride_length_m",
    "gait_speed_mps",
    "foot_strike_angle_deg",
    "toe_off_angle_deg",
    "midswing_pitch_deg",
    "peak_swing_pitch_deg",
    "min_toe_clearance_cm",
    "slap_score",
    "drag_score",
    "quality",
)
STATS = ("count", "mean", "p10", "p50", "p90")
STRIDE_FLOAT_FIELDS = ROLLUP_METRICS  # every float metric of a stride is rolled up
STRIDE_INT_FIELDS = ("foot_slap", "toe_drag", "turn", "bout")
ROLLUP_INPUTS = (*ROLLUP_METRICS, "foot_slap", "toe_drag")
"""What a daily rollup reads of each stride, in the order of :attr:`StrideMetrics.rows`."""
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000


class StoreError(Exception):
    """The store refused a request (a bug or a misconfiguration, not an outage)."""


class StoreUnavailable(StoreError):  # noqa: N818 - the name the ingest contract uses
    """The store did not answer within the retry bound; the caller must not acknowledge."""


def to_us(moment: datetime | str) -> int:
    """UTC datetime or RFC 3339 text → integer microseconds since the Unix epoch."""
    value = parse_utc(moment) if isinstance(moment, str) else moment
    return (value - EPOCH) // timedelta(microseconds=1)


def from_us(epoch_us: int) -> str:
    """Integer microseconds since the epoch → RFC 3339 UTC text with microseconds."""
    return format_utc(EPOCH + timedelta(microseconds=epoch_us))


def day_start(day: date) -> datetime:
    """00:00 UTC of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class StrideRecord:
    """One stride and where it came from."""

    patient: str
    device: str
    side: str
    gateway: str
    algorithm: str
    stride: Stride

    @property
    def ic_us(self) -> int:
        """Initial contact, µs since the epoch (the stride's timestamp in the store)."""
        return to_us(self.stride.ic_t)


@dataclass(frozen=True)
class ActivityRecord:
    """One minute of wear/walking summary of one device."""

    patient: str
    device: str
    side: str
    minute: ActivityMinute


@dataclass(frozen=True)
class BatteryRecord:
    """One battery reading (percent) of one device at ``t`` (RFC 3339 UTC)."""

    patient: str
    device: str
    t: str
    battery_pct: float


@dataclass(frozen=True)
class StatusRecord:
    """A gateway's report about one device at ``t`` (RFC 3339 UTC); None where not reported."""

    patient: str
    device: str
    t: str
    state: str
    side: str | None = None
    gateway: str | None = None
    link: str | None = None
    battery_pct: float | None = None
    firmware: str | None = None
    last_stride_t: str | None = None
    outbox_backlog: int | None = None


STATUS_FIELDS = (
    "state",
    "side",
    "gateway",
    "link",
    "battery_pct",
    "firmware",
    "last_stride_t",
    "outbox_backlog",
)


@dataclass(frozen=True)
class StridePage:
    """A page of strides in time order; pass ``next_cursor`` back for the next page."""

    records: list[StrideRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class StrideMetrics:
    """One series' (device, side) strides as bare numbers, for rollups.

    ``rows``: ``[ic µs since the epoch, *ROLLUP_INPUTS]`` per stride in time order, None where a
    nullable metric is null.
    """

    device: str
    side: str
    rows: list[list[Any]]


@dataclass(frozen=True)
class MetricStats:
    """Distribution of one metric over a day (units of the metric)."""

    count: int
    mean: float
    p10: float
    p50: float
    p90: float


@dataclass(frozen=True)
class DailyRollup:
    """One patient's side for one UTC day: counts, slap/drag %, wear time and metric stats."""

    patient: str
    side: str
    day: date
    strides: int
    slap_pct: float | None
    drag_pct: float | None
    worn_s: float
    walking_s: float
    metrics: dict[str, MetricStats] = field(default_factory=dict)


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    """``"<t_us>:<skip>"`` → (t_us, skip); ValueError if malformed."""
    if cursor is None:
        return None
    try:
        t_text, skip_text = cursor.split(":")
        t_us, skip = int(t_text), int(skip_text)
    except ValueError:
        raise ValueError(f"cursor {cursor!r} is not '<t_us>:<skip>'") from None
    if skip < 0:
        raise ValueError(f"cursor {cursor!r} has a negative skip")
    return t_us, skip


def next_cursor(
    records: Sequence[StrideRecord], limit: int, previous: tuple[int, int] | None
) -> str | None:
    """Cursor after a page: the last timestamp and how many rows at it were already returned."""
    if len(records) < limit or not records:
        return None
    last = records[-1].ic_us
    at_last = sum(1 for r in records if r.ic_us == last)
    if previous is not None and previous[0] == last:
        at_last += previous[1]
    return f"{last}:{at_last}"


def rollup_metrics(metrics: Sequence[str] | None) -> tuple[str, ...]:
    """The metrics to read; ValueError for a name that is not rolled up."""
    if metrics is None:
        return ROLLUP_METRICS
    unknown = set(metrics) - set(ROLLUP_METRICS)
    if unknown:
        raise ValueError(f"not rolled-up metrics: {sorted(unknown)}")
    return tuple(metrics)


def check_limit(limit: int) -> int:
    """Validate a page size (1 – MAX_PAGE)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit {limit} is outside 1-{MAX_PAGE}")
    return limit


class Store(Protocol):
    """A time-series store for strides, activity, battery and daily rollups."""

    def bootstrap(self) -> None:
        """Create the database/tables if missing (idempotent)."""

    def ping(self) -> bool:
        """True if the store answers now (no retries)."""

    def write_strides(self, records: Sequence[StrideRecord]) -> None:
        """Write strides durably; raises StoreUnavailable after the retry bound."""

    def write_activity(self, records: Sequence[ActivityRecord]) -> None:
        """Write activity minutes durably."""

    def write_battery(self, records: Sequence[BatteryRecord]) -> None:
        """Write battery readings durably."""

    def write_status(self, records: Sequence[StatusRecord]) -> None:
        """Write gateway/device status reports; identity (patient, device, t)."""

    def latest_status(self, patient: str) -> list[StatusRecord]:
        """The newest status of each of the patient's devices, by device."""

    def write_rollups(self, rollups: Sequence[DailyRollup]) -> None:
        """Write (overwrite) daily rollups."""

    def query_strides(
        self,
        patient: str,
        start: datetime,
        end: datetime,
        *,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> StridePage:
        """Strides with ``start <= ic_t < end`` in time order, one page at a time."""

    def stride_metrics(self, patient: str, start: datetime, end: datetime) -> list[StrideMetrics]:
        """The rollup inputs of strides with ``start <= ic_t < end``, per series (lean read)."""

    def patients_with_strides(self, start: datetime, end: datetime) -> list[str]:
        """Patients with at least one stride with ``start <= ic_t < end``, sorted."""

    def query_activity(self, patient: str, start: datetime, end: datetime) -> list[ActivityRecord]:
        """Activity minutes with ``start <= t < end`` in time order."""

    def latest_battery(self, patient: str) -> BatteryRecord | None:
        """The newest battery reading of any of the patient's devices."""

    def last_stride_t(self, patient: str) -> str | None:
        """``ic_t`` of the patient's newest stride, if any."""

    def query_rollups(
        self, patient: str, first: date, last: date, *, metrics: Sequence[str] | None = None
    ) -> list[DailyRollup]:
        """Daily rollups with ``first <= day <= last`` ordered by day then side.

        ``metrics`` limits the per-metric statistics read (default: all of ROLLUP_METRICS).
        """

    def close(self) -> None:
        """Release connections."""
