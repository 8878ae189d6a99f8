"""Read one MQTT message: topic + bytes → accepted items and dead letters, never an exception.

The envelope is checked first (size, UTF-8 JSON, ``schema``, ids against the topic, item count); if
it fails the whole message is rejected. Otherwise each stride (or activity minute) is checked on
its own: valid ones are accepted, each invalid one is rejected with a reason naming the field and
the bound, e.g. ``strides[3].stride_time_s: 30.0 is above the maximum 4.0``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dorsi.server.schema import (
    ID_PATTERN,
    MAX_PAYLOAD_BYTES,
    TIMESTAMP_EXAMPLE,
    TIMESTAMP_PATTERN,
    ActivityEnvelope,
    ActivityMinute,
    BatteryMessage,
    StatusMessage,
    Stride,
    StridesEnvelope,
)

TOPIC_ROOT = "dorsi/v1"
DEADLETTER_TOPIC = f"{TOPIC_ROOT}/deadletter"
KINDS = ("strides", "activity", "battery", "status")
_ID = re.compile(ID_PATTERN)
_MAX_ERRORS = 3
_FIELD_FIRST = re.compile(r"^([a-z_]+): ")


@dataclass(frozen=True)
class Topic:
    """A parsed ``dorsi/v1/<patient>/<device>/<kind>`` topic."""

    patient: str
    device: str
    kind: str

    @classmethod
    def parse(cls, topic: str) -> Topic:
        """Parse a topic; ValueError saying what is wrong otherwise."""
        parts = topic.split("/")
        if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT:
            raise ValueError(f"topic {topic!r} is not {TOPIC_ROOT}/<patient>/<device>/<kind>")
        patient, device, kind = parts[2:]
        for what, value in (("patient", patient), ("device", device)):
            if not _ID.fullmatch(value):
                raise ValueError(f"topic {what} id {value!r} is not valid")
        if kind not in KINDS:
            raise ValueError(f"topic kind {kind!r} is not one of {', '.join(KINDS)}")
        return cls(patient, device, kind)


@dataclass(frozen=True)
class Rejected:
    """Something not stored: why, and the bytes to dead-letter (a whole message or one item)."""

    reason: str
    payload: bytes


@dataclass(frozen=True)
class StridesIn:
    """Valid strides of one message and its source; ``rejected`` holds the invalid strides.

    ``indices`` gives each valid stride's position in the message's ``strides`` list.
    """

    envelope: StridesEnvelope
    strides: list[Stride]
    rejected: list[Rejected] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ActivityIn:
    """Valid activity minutes of one message; ``rejected`` holds the invalid minutes.

    ``indices`` gives each valid minute's position in the message's ``minutes`` list.
    """

    envelope: ActivityEnvelope
    minutes: list[ActivityMinute]
    rejected: list[Rejected] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class BatteryIn:
    """A valid battery reading."""

    message: BatteryMessage
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class StatusIn:
    """A valid gateway/sensor status."""

    message: StatusMessage
    rejected: list[Rejected] = field(default_factory=list)


Inbound = StridesIn | ActivityIn | BatteryIn | StatusIn


def _loc(prefix: str, loc: Sequence[int | str]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in ("function-after", "nullable", "union"):
            text += f".{part}" if text else str(part)
    return text


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_error(error: ErrorDetails, prefix: str = "") -> str:
    """One pydantic error → ``field: what is wrong`` naming the bound where there is one."""
    where = _loc(prefix, [p for p in error["loc"] if not str(p).startswith(("float", "int"))])
    ctx = error.get("ctx") or {}
    value = error.get("input")
    kind = error["type"]
    if kind in ("less_than_equal", "less_than"):
        what = f"{_short(value)} is above the maximum {ctx.get('le', ctx.get('lt'))}"
    elif kind in ("greater_than_equal", "greater_than"):
        what = f"{_short(value)} is below the minimum {ctx.get('ge', ctx.get('gt'))}"
    elif kind == "missing":
        what = "missing"
    elif kind == "finite_number":
        what = f"{_short(value)} is not a finite number"
    elif kind == "value_error":
        what = str(ctx.get("error", error["msg"]))
        field = _FIELD_FIRST.match(what)
        if field and where == prefix:  # a model-level rule about one field: name it in the path
            where = _loc(prefix, [field.group(1)])
            what = what[field.end() :]
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == TIMESTAMP_PATTERN:
        what = f"{_short(value)} is not an RFC 3339 UTC timestamp like {TIMESTAMP_EXAMPLE}"
    elif kind == "string_pattern_mismatch":
        what = f"{_short(value)} does not match the pattern {ctx.get('pattern')}"
    elif kind == "literal_error":
        what = f"{_short(value)} is not one of {ctx.get('expected')}"
    else:
        what = f"{error['msg'].lower()}, got {_short(value)}"
    return f"{where}: {what}" if where else what


def describe(exc: ValidationError, prefix: str = "") -> str:
    """All errors of one validation (first few), joined with ``; ``."""
    errors = exc.errors(include_url=False)
    parts = [describe_error(e, prefix) for e in errors[:_MAX_ERRORS]]
    if len(errors) > _MAX_ERRORS:
        parts.append(f"and {len(errors) - _MAX_ERRORS} more")
    return "; ".join(parts)


def _same_ids(topic: Topic, obj: dict[str, Any]) -> str | None:
    for key, expected in (("patient", topic.patient), ("device", topic.device)):
        if obj.get(key) != expected:
            return f"{key}: {_short(obj.get(key))} does not match the topic's {expected!r}"
    return None


def _items(
    items: list[Any], model: type[BaseModel], name: str, now: datetime
) -> tuple[list[Any], list[Rejected], list[int]]:
    """Validate each item alone: (valid models, rejections, positions of the valid ones)."""
    good: list[Any] = []
    bad: list[Rejected] = []
    indices: list[int] = []
    for i, item in enumerate(items):
        try:
            good.append(model.model_validate(item, context={"now": now}))
            indices.append(i)
        except ValidationError as exc:
            payload = json.dumps(item, separators=(",", ":"), default=str).encode()
            bad.append(Rejected(describe(exc, f"{name}[{i}]"), payload))
    return good, bad, indices


def read_message(topic: str, payload: bytes, *, now: datetime | None = None) -> Inbound | Rejected:
    """Validate one message; ``now`` (UTC) bounds future timestamps (default: the clock)."""
    now = now or datetime.now(UTC)
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected(
            f"payload: {len(payload)} bytes is above the maximum {MAX_PAYLOAD_BYTES}", payload
        )
    try:
        parsed = Topic.parse(topic)
    except ValueError as exc:
        return Rejected(str(exc), payload)
    try:
        obj = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        return Rejected(f"payload: not UTF-8 ({exc.reason} at byte {exc.start})", payload)
    except (ValueError, RecursionError) as exc:
        return Rejected(f"payload: not JSON ({exc})", payload)
    if not isinstance(obj, dict):
        return Rejected(f"payload: a JSON object is required, got {type(obj).__name__}", payload)
    expected = f"dorsi.{parsed.kind}/1"
    if obj.get("schema") != expected:
        return Rejected(
            f"schema: {_short(obj.get('schema'))} is not supported on a {parsed.kind} topic "
            f"(this server reads {expected})",
            payload,
        )
    mismatch = _same_ids(parsed, obj)
    if mismatch:
        return Rejected(mismatch, payload)
    context = {"now": now}
    try:
        if parsed.kind == "strides":
            env = StridesEnvelope.model_validate(obj, context=context)
            strides, bad, indices = _items(env.strides, Stride, "strides", now)
            return StridesIn(env, strides, bad, indices)
        if parsed.kind == "activity":
            act = ActivityEnvelope.model_validate(obj, context=context)
            minutes, bad, indices = _items(act.minutes, ActivityMinute, "minutes", now)
            return ActivityIn(act, minutes, bad, indices)
        if parsed.kind == "battery":
            return BatteryIn(BatteryMessage.model_validate(obj, context=context))
        return StatusIn(StatusMessage.model_validate(obj, context=context))
    except ValidationError as exc:
        return Rejected(describe(exc), payload)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (numbers must be finite)")
