"""Build the JSON payloads of docs/mqtt.md (schema v1). Pure: values in, bytes out.

Each stride is stored in the outbox as a complete one-stride ``dorsi.strides/1`` message, so
every stored message is valid on its own; :func:`merge_stride_messages` joins consecutive ones into
a batch when the outbox drains.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from dorsi.gateway.topics import check_id

STRIDES_SCHEMA = "dorsi.strides/1"
ACTIVITY_SCHEMA = "dorsi.activity/1"
BATTERY_SCHEMA = "dorsi.battery/1"
STATUS_SCHEMA = "dorsi.status/1"
MAX_STRIDES_PER_MESSAGE = 500

# The per-stride metric names (the contract shared with dorsi.signal and the server).
STRIDE_TIME_FIELDS = ("ic_t", "to_t", "next_ic_t")
STRIDE_METRIC_FIELDS = (
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
    "foot_slap",
    "slap_score",
    "toe_drag",
    "drag_score",
    "turn",
    "bout",
    "quality",
)
NULLABLE_FIELDS = frozenset(
    {
        "stride_length_m",
        "gait_speed_mps",
        "foot_strike_angle_deg",
        "toe_off_angle_deg",
        "midswing_pitch_deg",
        "peak_swing_pitch_deg",
        "min_toe_clearance_cm",
        "slap_score",
        "drag_score",
    }
)
"""Trajectory-derived metrics and scores: null when they could not be estimated for a stride."""
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "stride_length_m": (0.0, 3.0),
    "gait_speed_mps": (0.0, 4.0),
    "foot_strike_angle_deg": (-45.0, 60.0),
    "toe_off_angle_deg": (-100.0, 30.0),
    "midswing_pitch_deg": (-90.0, 90.0),
    "peak_swing_pitch_deg": (-90.0, 90.0),
    "min_toe_clearance_cm": (-5.0, 50.0),
    "slap_score": (0.0, 10.0),
    "drag_score": (0.0, 10.0),
}
"""docs/mqtt.md's bounds of the nullable metrics: a value outside them is an estimation artefact
(e.g. a foot strike angle of 66° after a link gap) and is sent as null, so the stride itself is
still stored instead of being dead-lettered whole."""
INTEGER_FIELDS = frozenset({"foot_slap", "toe_drag", "turn", "bout"})

Side = Literal["left", "right"]


def utc_iso(moment: datetime | float) -> str:
    """RFC 3339 UTC with microseconds and ``Z``; ``moment``: aware datetime or epoch seconds."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime: give wall-clock times in UTC (tzinfo=UTC)")
        value = moment.astimezone(UTC)
    else:
        if not math.isfinite(moment):
            raise ValueError(f"timestamp {moment!r} is not finite")
        value = datetime.fromtimestamp(moment, tz=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Source:
    """Who a message is about: patient, sensor, side, and which gateway/algorithm produced it."""

    patient: str
    device: str
    side: Side
    gateway: str
    algorithm: str

    def __post_init__(self) -> None:
        check_id(self.patient, "patient")
        check_id(self.device, "device")
        if self.side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {self.side!r}")


def _dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def stride_fields(
    metrics: Mapping[str, Any],
    *,
    ic_t: datetime | float,
    to_t: datetime | float,
    next_ic_t: datetime | float,
) -> dict[str, Any]:
    """One stride object: UTC event times plus the metrics (missing/non-finite → ValueError;
    a nullable metric that is non-finite or outside :data:`PLAUSIBLE_RANGES` → null)."""
    stride: dict[str, Any] = {
        "ic_t": utc_iso(ic_t),
        "to_t": utc_iso(to_t),
        "next_ic_t": utc_iso(next_ic_t),
    }
    for name in STRIDE_METRIC_FIELDS:
        value = metrics.get(name)
        if value is None:
            if name in NULLABLE_FIELDS:
                stride[name] = None
                continue
            raise ValueError(f"stride metric {name!r} is missing")
        number = float(value)
        if not math.isfinite(number):
            if name in NULLABLE_FIELDS:
                stride[name] = None
                continue
            raise ValueError(f"stride metric {name!r} is not finite ({value!r})")
        lo, hi = PLAUSIBLE_RANGES.get(name, (-math.inf, math.inf))
        if not lo <= round(number, 4) <= hi:
            stride[name] = None  # only nullable metrics have bounds here
            continue
        stride[name] = round(number) if name in INTEGER_FIELDS else round(number, 4)
    return stride


def strides_message(source: Source, strides: Sequence[Mapping[str, Any]]) -> bytes:
    """A ``dorsi.strides/1`` message carrying 1–500 stride objects."""
    if not 1 <= len(strides) <= MAX_STRIDES_PER_MESSAGE:
        raise ValueError(f"a strides message carries 1-{MAX_STRIDES_PER_MESSAGE} strides")
    return _dumps(
        {
            "schema": STRIDES_SCHEMA,
            "patient": source.patient,
            "device": source.device,
            "side": source.side,
            "gateway": source.gateway,
            "algorithm": source.algorithm,
            "strides": list(strides),
        }
    )


def _merge(payloads: Sequence[bytes], items: str) -> bytes:
    """Join messages of the same source into one, concatenating their ``items`` lists in order."""
    if not payloads:
        raise ValueError("nothing to merge")
    first = json.loads(payloads[0])
    merged: list[Any] = []
    for payload in payloads:
        message = json.loads(payload)
        if any(message.get(k) != first.get(k) for k in ("schema", "patient", "device", "side")):
            raise ValueError(f"cannot merge {items} messages of different sources")
        merged.extend(message[items])
    first[items] = merged
    return _dumps(first)


def merge_stride_messages(payloads: Sequence[bytes]) -> bytes:
    """Join one-stride messages of the same source into one batch message (order kept)."""
    return _merge(payloads, "strides")


def merge_activity_messages(payloads: Sequence[bytes]) -> bytes:
    """Join per-minute activity messages of the same source into one (order kept)."""
    return _merge(payloads, "minutes")


def battery_message(source: Source, *, t: datetime | float, battery_pct: int) -> bytes:
    if not 0 <= battery_pct <= 100:
        raise ValueError(f"battery level {battery_pct} % is outside 0-100")
    return _dumps(
        {
            "schema": BATTERY_SCHEMA,
            "patient": source.patient,
            "device": source.device,
            "t": utc_iso(t),
            "battery_pct": int(battery_pct),
        }
    )


def activity_message(source: Source, minutes: Sequence[Mapping[str, Any]]) -> bytes:
    """``t`` (minute start), ``state``, ``worn_s``, ``walking_s``, ``strides``."""
    out = []
    for minute in minutes:
        state = minute["state"]
        if state not in ("not_worn", "worn_still", "walking"):
            raise ValueError(f"activity state {state!r} is not one of not_worn/worn_still/walking")
        out.append(
            {
                "t": utc_iso(minute["t"]),
                "state": state,
                "worn_s": round(float(minute["worn_s"]), 2),
                "walking_s": round(float(minute["walking_s"]), 2),
                "strides": int(minute["strides"]),
            }
        )
    return _dumps(
        {
            "schema": ACTIVITY_SCHEMA,
            "patient": source.patient,
            "device": source.device,
            "side": source.side,
            "minutes": out,
        }
    )


def status_message(
    source: Source,
    *,
    state: Literal["online", "offline"],
    t: datetime | float | None = None,
    link: Literal["connected", "searching", "disconnected"] | None = None,
    battery_pct: int | None = None,
    firmware: str | None = None,
    last_stride_t: datetime | float | None = None,
    outbox_backlog: int | None = None,
) -> bytes:
    """The retained ``dorsi.status/1`` message (also the last will, with ``state='offline'``)."""
    return _dumps(
        {
            "schema": STATUS_SCHEMA,
            "patient": source.patient,
            "device": source.device,
            "side": source.side,
            "gateway": source.gateway,
            "t": None if t is None else utc_iso(t),
            "state": state,
            "link": link,
            "battery_pct": battery_pct,
            "firmware": firmware,
            "last_stride_t": None if last_stride_t is None else utc_iso(last_stride_t),
            "outbox_backlog": outbox_backlog,
        }
    )
