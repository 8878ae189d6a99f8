"""Pydantic v2 models of the MQTT payloads, schema v1 (docs/mqtt.md is the contract).

Models check single objects (an envelope, one stride, one activity minute); how a whole message is
split into stored items and dead letters lives in :mod:`dorsi.server.validate`. Models are strict:
a number given as a string, a boolean given as 0/1 or NaN/Infinity is refused. Unknown fields are
ignored (compatible minor additions). The time bounds ("after 2000-01-01, at most 1 day in the
future") are checked against ``now`` passed in the validation context (UTC datetime).

Every integer has an upper bound no larger than :data:`INT64_MAX`, the largest integer InfluxDB and
SQLite store: a bigger number is refused here, with the field and the bound, instead of making the
store refuse a whole batch.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

STRIDES_SCHEMA = "dorsi.strides/1"
ACTIVITY_SCHEMA = "dorsi.activity/1"
BATTERY_SCHEMA = "dorsi.battery/1"
STATUS_SCHEMA = "dorsi.status/1"
DEADLETTER_SCHEMA = "dorsi.deadletter/1"

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_STRIDES = 500
MAX_MINUTES = 1440
EARLIEST_T = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
TIME_TOLERANCE_S = 0.002
CADENCE_TOLERANCE = 0.01  # relative; cadence_spm must be 120 / stride_time_s within 1 %
INT64_MAX = 2**63 - 1
"""Largest integer field value: InfluxDB integer fields and SQLite INTEGER are signed 64-bit."""
MIN_STRIDE_TIME_S = 0.4
MAX_STRIDES_PER_MINUTE = 150
"""Strides starting in one minute: at most 60 s / ``MIN_STRIDE_TIME_S``, the shortest stride."""

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
TIMESTAMP_EXAMPLE = "2026-11-28T15:20:25.123456Z"
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def parse_utc(text: str) -> datetime:
    """RFC 3339 UTC text with ``Z`` (up to microseconds) → aware datetime; ValueError if not."""
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError(f"{text!r} is not an RFC 3339 UTC timestamp like {TIMESTAMP_EXAMPLE}")
    return datetime.fromisoformat(text)


def format_utc(moment: datetime) -> str:
    """Aware datetime → ``2026-11-28T15:20:25.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now(info: ValidationInfo) -> datetime:
    context = info.context if isinstance(info.context, dict) else {}
    now = context.get("now")
    return now if isinstance(now, datetime) else datetime.now(UTC)


def _check_time(text: str, info: ValidationInfo) -> str:
    moment = datetime.fromisoformat(text)  # the field's pattern already checked the form
    if moment < EARLIEST_T:
        raise ValueError(f"{text} is before the earliest {format_utc(EARLIEST_T)}")
    latest = _now(info) + MAX_FUTURE
    if moment > latest:
        raise ValueError(f"{text} is more than 1 day in the future (latest {format_utc(latest)})")
    return text


UtcText = Annotated[str, Field(pattern=TIMESTAMP_PATTERN)]
"""RFC 3339 UTC timestamp text (form only; bounds checked by the model)."""
UtcTime = Annotated[UtcText, AfterValidator(_check_time)]
"""RFC 3339 UTC timestamp string, kept as text; see :func:`parse_utc`."""
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Side = Literal["left", "right"]


def _integer_flag(value: Any) -> Any:
    """Refuse ``true``/``false`` and ``1.0`` for a 0/1 flag (a strict Literal lets them through)."""
    if isinstance(value, bool | float):
        raise ValueError(f"{value!r} is not one of 0 or 1")
    return value


Flag = Annotated[Literal[0, 1], BeforeValidator(_integer_flag)]
"""0 or 1, as a JSON integer."""


def _range(lo: float, hi: float) -> Any:
    return Field(ge=lo, le=hi, allow_inf_nan=False)


def _count(hi: int = INT64_MAX) -> Any:
    """A non-negative integer up to ``hi`` (at most :data:`INT64_MAX`)."""
    return Field(ge=0, le=min(hi, INT64_MAX))


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Stride(_Strict):
    """One stride: UTC event times (RFC 3339 text) and metrics in the units their names carry."""

    ic_t: UtcText
    to_t: UtcText
    next_ic_t: UtcText
    stride_time_s: Annotated[float, _range(MIN_STRIDE_TIME_S, 4.0)]
    stance_time_s: Annotated[float, _range(0.1, 3.5)]
    swing_time_s: Annotated[float, _range(0.1, 3.5)]
    cadence_spm: Annotated[float, _range(20.0, 240.0)]
    stride_length_m: Annotated[float, _range(0.0, 3.0)] | None
    gait_speed_mps: Annotated[float, _range(0.0, 4.0)] | None
    foot_strike_angle_deg: Annotated[float, _range(-45.0, 60.0)] | None
    toe_off_angle_deg: Annotated[float, _range(-100.0, 30.0)] | None
    midswing_pitch_deg: Annotated[float, _range(-90.0, 90.0)] | None
    peak_swing_pitch_deg: Annotated[float, _range(-90.0, 90.0)] | None
    min_toe_clearance_cm: Annotated[float, _range(-5.0, 50.0)] | None
    foot_slap: Flag
    slap_score: Annotated[float, _range(0.0, 10.0)] | None
    toe_drag: Flag
    drag_score: Annotated[float, _range(0.0, 10.0)] | None
    turn: Flag
    bout: Annotated[int, _count()]
    quality: Annotated[float, _range(0.0, 1.0)]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Stride:
        parse = datetime.fromisoformat  # the fields' patterns already checked the form
        ic, to, nxt = parse(self.ic_t), parse(self.to_t), parse(self.next_ic_t)
        if ic < EARLIEST_T:
            raise ValueError(f"ic_t: {self.ic_t} is before the earliest {format_utc(EARLIEST_T)}")
        latest = _now(info) + MAX_FUTURE
        if nxt > latest:
            raise ValueError(
                f"next_ic_t: {self.next_ic_t} is more than 1 day in the future "
                f"(latest {format_utc(latest)})"
            )
        if not ic < to < nxt:
            raise ValueError(
                f"event times out of order: need ic_t < to_t < next_ic_t, "
                f"got {self.ic_t}, {self.to_t}, {self.next_ic_t}"
            )
        span_s = (nxt - ic).total_seconds()
        if abs(span_s - self.stride_time_s) > TIME_TOLERANCE_S:
            raise ValueError(
                f"stride_time_s: {self.stride_time_s} differs from next_ic_t - ic_t = "
                f"{span_s:.6f} s by more than {TIME_TOLERANCE_S} s"
            )
        parts_s = self.stance_time_s + self.swing_time_s
        if abs(parts_s - self.stride_time_s) > TIME_TOLERANCE_S:
            raise ValueError(
                f"stance_time_s + swing_time_s = {parts_s:.6f} s differs from stride_time_s "
                f"{self.stride_time_s} by more than {TIME_TOLERANCE_S} s"
            )
        expected = 120.0 / self.stride_time_s
        if not math.isclose(self.cadence_spm, expected, rel_tol=CADENCE_TOLERANCE, abs_tol=0.1):
            raise ValueError(
                f"cadence_spm: {self.cadence_spm} is not 120 / stride_time_s = {expected:.2f} "
                f"(within {CADENCE_TOLERANCE:.0%})"
            )
        return self

    @property
    def ic_time(self) -> datetime:
        """Initial contact as an aware UTC datetime."""
        return parse_utc(self.ic_t)


class _Envelope(_Strict):
    patient: Id
    device: Id


class StridesEnvelope(_Envelope):
    """``dorsi.strides/1`` without its strides, which are validated one by one."""

    schema_: Literal["dorsi.strides/1"] = Field(alias="schema")
    side: Side
    gateway: Annotated[str, Field(min_length=1, max_length=128)]
    algorithm: Annotated[str, Field(min_length=1, max_length=128)]
    strides: Annotated[list[Any], Field(min_length=1, max_length=MAX_STRIDES)]


class StridesMessage(StridesEnvelope):
    """A whole valid ``dorsi.strides/1`` message (used for the published JSON Schema)."""

    strides: Annotated[list[Stride], Field(min_length=1, max_length=MAX_STRIDES)]


class ActivityMinute(_Strict):
    """One minute of wear/walking summary; ``t`` is the start of the minute (UTC)."""

    t: UtcTime
    state: Literal["not_worn", "worn_still", "walking"]
    worn_s: Annotated[float, _range(0.0, 60.0)]
    walking_s: Annotated[float, _range(0.0, 60.0)]
    strides: Annotated[int, _count(MAX_STRIDES_PER_MINUTE)]

    @model_validator(mode="after")
    def _consistent(self) -> ActivityMinute:
        moment = parse_utc(self.t)
        if moment.second or moment.microsecond:
            raise ValueError(f"t: {self.t} is not on the minute")
        if self.walking_s > self.worn_s:
            raise ValueError(f"walking_s: {self.walking_s} is above worn_s {self.worn_s}")
        return self


class ActivityEnvelope(_Envelope):
    """``dorsi.activity/1`` without its minutes, which are validated one by one."""

    schema_: Literal["dorsi.activity/1"] = Field(alias="schema")
    side: Side
    minutes: Annotated[list[Any], Field(min_length=1, max_length=MAX_MINUTES)]


class ActivityMessage(ActivityEnvelope):
    """A whole valid ``dorsi.activity/1`` message (used for the published JSON Schema)."""

    minutes: Annotated[list[ActivityMinute], Field(min_length=1, max_length=MAX_MINUTES)]


class BatteryMessage(_Envelope):
    """``dorsi.battery/1``: the sensor's battery level in percent at ``t``."""

    schema_: Literal["dorsi.battery/1"] = Field(alias="schema")
    t: UtcTime
    battery_pct: Annotated[float, _range(0.0, 100.0)]


class StatusMessage(_Envelope):
    """``dorsi.status/1`` (retained); all fields but schema/patient/device/state may be null."""

    schema_: Literal["dorsi.status/1"] = Field(alias="schema")
    state: Literal["online", "offline"]
    side: Side | None = None
    gateway: Annotated[str, Field(max_length=128)] | None = None
    t: UtcTime | None = None
    link: Literal["connected", "searching", "disconnected"] | None = None
    battery_pct: Annotated[float, _range(0.0, 100.0)] | None = None
    firmware: Annotated[str, Field(max_length=64)] | None = None
    last_stride_t: UtcTime | None = None
    outbox_backlog: Annotated[int, _count()] | None = None


class DeadLetter(_Strict):
    """``dorsi.deadletter/1``: a rejected message (or stride) and why.

    ``payload_b64`` holds at most the first ``MAX_PAYLOAD_BYTES`` of the rejected bytes;
    ``payload_bytes`` is their full length and ``payload_truncated`` says whether it was cut.
    """

    schema_: Literal["dorsi.deadletter/1"] = Field(alias="schema", default="dorsi.deadletter/1")
    t: str
    topic: str
    reason: str
    payload_b64: str
    payload_bytes: Annotated[int, _count()] | None = None
    payload_truncated: bool = False
