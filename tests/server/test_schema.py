"""Payload validation against docs/mqtt.md: envelope first, then each stride on its own."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dorsi.server.schema import MAX_PAYLOAD_BYTES, format_utc
from dorsi.server.schema_export import DEFAULT_DIR, render
from dorsi.server.synthetic import strides_payload, synthetic_strides
from dorsi.server.validate import (
    ActivityIn,
    BatteryIn,
    Rejected,
    StatusIn,
    StridesIn,
    Topic,
    read_message,
)

NOW = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
START = NOW - timedelta(hours=2)
TOPIC = "dorsi/v1/p-7f3a/dorsi-1a2b/strides"


def strides(n: int = 3) -> list[dict[str, Any]]:
    return synthetic_strides(n, start=START, seed=n)


def read(payload: bytes, topic: str = TOPIC) -> StridesIn | ActivityIn | BatteryIn | StatusIn:
    result = read_message(topic, payload, now=NOW)
    assert not isinstance(result, Rejected), result.reason
    return result


def rejected(payload: bytes, topic: str = TOPIC) -> str:
    result = read_message(topic, payload, now=NOW)
    assert isinstance(result, Rejected)
    assert result.payload == payload, "the whole message is what gets dead-lettered"
    return result.reason


def test_doc_example_is_valid() -> None:
    """The example stride of docs/mqtt.md passes as written."""
    doc = (DEFAULT_DIR.parent / "mqtt.md").read_text()
    example = json.loads(doc.split("```json\n", 1)[1].split("```", 1)[0])
    payload = json.dumps(example).encode()
    result = read_message(TOPIC, payload, now=datetime(2026, 11, 28, 15, 30, tzinfo=UTC))
    assert isinstance(result, StridesIn), getattr(result, "reason", "")
    assert [s.ic_t for s in result.strides] == ["2026-11-28T15:20:25.123456Z"]
    assert result.strides[0].min_toe_clearance_cm == pytest.approx(0.9)


def test_basic_batch_keeps_order_and_values() -> None:
    given_strides = strides(50)
    result = read(strides_payload("p-7f3a", "dorsi-1a2b", "left", given_strides))
    assert isinstance(result, StridesIn)
    assert not result.rejected
    assert [s.ic_t for s in result.strides] == [s["ic_t"] for s in given_strides]
    assert result.envelope.side == "left"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("stride_time_s", 30.0, "strides[1].stride_time_s: 30.0 is above the maximum 4.0"),
        ("stride_time_s", -1.0, "strides[1].stride_time_s: -1.0 is below the minimum 0.4"),
        (
            "foot_strike_angle_deg",
            400,
            "strides[1].foot_strike_angle_deg: 400 is above the maximum 60",
        ),
        ("quality", 1.5, "strides[1].quality: 1.5 is above the maximum 1"),
        ("bout", -3, "strides[1].bout: -3 is below the minimum 0"),
        ("foot_slap", 2, "strides[1].foot_slap: 2 is not one of 0 or 1"),
        ("cadence_spm", "106", "strides[1].cadence_spm: input should be a valid number"),
        ("bout", True, "strides[1].bout: input should be a valid integer"),
        (
            "ic_t",
            "2026-11-28 15:20:25",
            "strides[1].ic_t: '2026-11-28 15:20:25' is not an RFC 3339",
        ),
        ("ic_t", "1999-12-31T23:59:59.000000Z", "before the earliest 2000-01-01"),
        ("next_ic_t", "2026-11-30T00:00:00.000000Z", "more than 1 day in the future"),
        (
            "min_toe_clearance_cm",
            51.0,
            "strides[1].min_toe_clearance_cm: 51.0 is above the maximum 50",
        ),
        ("swing_time_s", None, "strides[1].swing_time_s: input should be a valid number"),
        (
            "bout",
            2**63,
            "strides[1].bout: 9223372036854775808 is above the maximum 9223372036854775807",
        ),
        ("bout", 10**30, "strides[1].bout: 1000000000000000000000000000000 is above the maximum"),
        ("bout", 1.0, "strides[1].bout: input should be a valid integer"),
        ("foot_slap", True, "strides[1].foot_slap: True is not one of 0 or 1"),
        ("turn", 1.0, "strides[1].turn: 1.0 is not one of 0 or 1"),
        ("toe_drag", 2**64, "strides[1].toe_drag: "),
    ],
)
def test_invalid_stride_is_rejected_alone_with_field_and_bound(
    field: str, value: object, reason: str
) -> None:
    batch = strides(3)
    batch[1] = dict(batch[1], **{field: value})
    result = read(strides_payload("p-7f3a", "dorsi-1a2b", "left", batch))
    assert isinstance(result, StridesIn)
    assert [s.ic_t for s in result.strides] == [batch[0]["ic_t"], batch[2]["ic_t"]]
    assert len(result.rejected) == 1
    assert reason in result.rejected[0].reason
    assert json.loads(result.rejected[0].payload) == batch[1], "the bad stride is kept whole"


def test_missing_field_and_not_an_object() -> None:
    batch: list[Any] = strides(3)
    del batch[0]["quality"]
    batch[2] = 5
    result = read(strides_payload("p-7f3a", "dorsi-1a2b", "right", batch))
    assert isinstance(result, StridesIn)
    assert len(result.strides) == 1
    assert [r.reason.split(":")[0] for r in result.rejected] == ["strides[0].quality", "strides[2]"]
    assert "missing" in result.rejected[0].reason


def test_integer_bounds_accept_int64_max() -> None:
    """The largest integer the stores hold is accepted; one more is refused (see above)."""
    batch = strides(2)
    batch[0]["bout"] = 2**63 - 1
    result = read(strides_payload("p-7f3a", "dorsi-1a2b", "left", batch))
    assert isinstance(result, StridesIn)
    assert not result.rejected
    assert result.strides[0].bout == 2**63 - 1
    assert result.indices == [0, 1]


def test_activity_strides_and_status_backlog_bounds() -> None:
    minute = {"t": "2026-11-28T15:20:00.000000Z", "state": "walking", "worn_s": 60.0}
    activity = {
        "schema": "dorsi.activity/1",
        "patient": "p-7f3a",
        "device": "dorsi-1a2b",
        "side": "left",
        "minutes": [
            dict(minute, walking_s=60.0, strides=150),
            dict(minute, t="2026-11-28T15:21:00.000000Z", walking_s=60.0, strides=151),
            dict(minute, t="2026-11-28T15:22:00.000000Z", walking_s=60.0, strides=2**63),
        ],
    }
    result = read(json.dumps(activity).encode(), "dorsi/v1/p-7f3a/dorsi-1a2b/activity")
    assert isinstance(result, ActivityIn)
    assert [m.strides for m in result.minutes] == [150]
    assert [r.reason for r in result.rejected] == [
        "minutes[1].strides: 151 is above the maximum 150",
        "minutes[2].strides: 9223372036854775808 is above the maximum 150",
    ]
    status = {"schema": "dorsi.status/1", "patient": "p-7f3a", "device": "dorsi-1a2b"}
    status["state"] = "online"
    topic = "dorsi/v1/p-7f3a/dorsi-1a2b/status"
    ok = read(json.dumps(dict(status, outbox_backlog=2**63 - 1)).encode(), topic)
    assert isinstance(ok, StatusIn)
    assert ok.message.outbox_backlog == 2**63 - 1
    assert "outbox_backlog: 9223372036854775808 is above the maximum 9223372036854775807" in (
        rejected(json.dumps(dict(status, outbox_backlog=2**63)).encode(), topic)
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"stride_time_s": 1.5}, "differs from next_ic_t - ic_t"),
        ({"stance_time_s": 0.2}, "stance_time_s + swing_time_s"),
        ({"cadence_spm": 60.0}, "cadence_spm: 60.0 is not 120 / stride_time_s"),
        ({"to_t": "2000-01-01T00:00:00.000000Z"}, "event times out of order"),
    ],
)
def test_cross_field_rules(change: dict[str, Any], reason: str) -> None:
    batch = strides(1)
    batch[0].update(change)
    result = read(strides_payload("p-7f3a", "dorsi-1a2b", "left", batch))
    assert isinstance(result, StridesIn)
    assert not result.strides
    assert reason in result.rejected[0].reason


def test_unknown_fields_are_ignored() -> None:
    batch = strides(2)
    batch[0]["future_metric_deg"] = 3.0
    message = json.loads(strides_payload("p-7f3a", "dorsi-1a2b", "left", batch))
    message["new_envelope_field"] = {"x": 1}
    result = read(json.dumps(message).encode())
    assert isinstance(result, StridesIn)
    assert len(result.strides) == 2


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "payload: not JSON"),
        (b"\xff\xfe", "payload: not UTF-8"),
        (b"[1, 2]", "payload: a JSON object is required, got list"),
        (b'{"schema": "dorsi.strides/2"}', "schema: 'dorsi.strides/2' is not supported"),
        (b'{"schema": "dorsi.battery/1"}', "schema: 'dorsi.battery/1' is not supported"),
        (b'{"a": NaN}', "NaN is not allowed"),
    ],
)
def test_whole_message_rejected(payload: bytes, reason: str) -> None:
    assert reason in rejected(payload)


def test_envelope_rules() -> None:
    batch = strides(2)
    assert "patient: 'p-other' does not match the topic's 'p-7f3a'" in rejected(
        strides_payload("p-other", "dorsi-1a2b", "left", batch)
    )
    assert "device" in rejected(strides_payload("p-7f3a", "dorsi-zzzz", "left", batch))
    assert "side: 'up' is not one of" in rejected(
        strides_payload("p-7f3a", "dorsi-1a2b", "up", batch)
    )
    assert "strides: list should have at least 1 item" in rejected(
        strides_payload("p-7f3a", "dorsi-1a2b", "left", [])
    )
    assert "at most 500 items" in rejected(
        strides_payload("p-7f3a", "dorsi-1a2b", "left", strides(1) * 501)
    )
    no_gateway = json.loads(strides_payload("p-7f3a", "dorsi-1a2b", "left", batch))
    del no_gateway["gateway"]
    assert "gateway: missing" in rejected(json.dumps(no_gateway).encode())


def test_oversized_message_rejected_before_parsing() -> None:
    payload = b"{" + b" " * MAX_PAYLOAD_BYTES + b"}"
    assert f"above the maximum {MAX_PAYLOAD_BYTES}" in rejected(payload)


@pytest.mark.parametrize(
    "topic",
    ["dorsi/v2/p/d/strides", "dorsi/v1/p/d/other", "dorsi/v1/p x/d/strides", "dorsi/v1/p/strides"],
)
def test_bad_topic(topic: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        Topic.parse(topic)
    assert "topic" in rejected(strides_payload("p", "d", "left", strides(1)), topic=topic)


def test_activity_battery_status() -> None:
    minute = {"t": "2026-11-28T15:20:00.000000Z", "state": "walking", "worn_s": 60.0}
    activity = {
        "schema": "dorsi.activity/1",
        "patient": "p-7f3a",
        "device": "dorsi-1a2b",
        "side": "left",
        "minutes": [
            dict(minute, walking_s=41.5, strides=38),
            dict(minute, walking_s=61.0, strides=38),
            dict(minute, t="2026-11-28T15:20:30.000000Z", walking_s=1.0, strides=1),
            dict(minute, worn_s=10.0, walking_s=20.0, strides=1),
        ],
    }
    result = read(json.dumps(activity).encode(), "dorsi/v1/p-7f3a/dorsi-1a2b/activity")
    assert isinstance(result, ActivityIn)
    assert len(result.minutes) == 1
    reasons = [r.reason for r in result.rejected]
    assert "minutes[1].walking_s: 61.0 is above the maximum 60" in reasons[0]
    assert "not on the minute" in reasons[1]
    assert "walking_s: 20.0 is above worn_s 10.0" in reasons[2]

    battery = {"schema": "dorsi.battery/1", "patient": "p-7f3a", "device": "dorsi-1a2b"}
    battery["t"] = format_utc(START)
    ok = read(
        json.dumps(dict(battery, battery_pct=87)).encode(), "dorsi/v1/p-7f3a/dorsi-1a2b/battery"
    )
    assert isinstance(ok, BatteryIn)
    assert ok.message.battery_pct == 87
    assert "battery_pct: 187 is above the maximum 100" in rejected(
        json.dumps(dict(battery, battery_pct=187)).encode(), "dorsi/v1/p-7f3a/dorsi-1a2b/battery"
    )

    will = {
        "schema": "dorsi.status/1",
        "patient": "p-7f3a",
        "device": "dorsi-1a2b",
        "state": "offline",
    }
    status = read(json.dumps(will).encode(), "dorsi/v1/p-7f3a/dorsi-1a2b/status")
    assert isinstance(status, StatusIn)
    assert status.message.state == "offline"
    assert status.message.battery_pct is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(payload: bytes) -> None:
    result = read_message(TOPIC, payload, now=NOW)
    assert isinstance(result, Rejected)
    assert result.reason


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2), st.sampled_from(sorted(strides(1)[0])), json_values)
def test_any_field_value_never_crashes_and_nothing_vanishes(
    index: int, field: str, value: object
) -> None:
    """Whatever a field holds, every stride is either accepted or rejected with a reason."""
    batch = strides(3)
    batch[index][field] = value
    result = read_message(TOPIC, strides_payload("p-7f3a", "dorsi-1a2b", "left", batch), now=NOW)
    assert isinstance(result, StridesIn)
    assert len(result.strides) + len(result.rejected) == 3
    for bad in result.rejected:
        assert bad.reason.startswith(f"strides[{index}]")


def test_json_schema_files_are_current() -> None:
    """docs/schema/*.json are what `python -m dorsi.server.schema_export` writes today."""
    for name, text in render().items():
        path = DEFAULT_DIR / name
        assert path.is_file(), f"{path} missing: run python -m dorsi.server.schema_export"
        assert path.read_text() == text, (
            f"{path} is stale: run python -m dorsi.server.schema_export"
        )


def test_deadletter_payload_roundtrip() -> None:
    """A dead letter carries the original bytes, base64-encoded."""
    from dorsi.server.deadletter import deadletter_message

    message = json.loads(deadletter_message(TOPIC, Rejected("why", b"\x00abc"), now=NOW))
    assert message["schema"] == "dorsi.deadletter/1"
    assert base64.b64decode(message["payload_b64"]) == b"\x00abc"
    assert message["topic"] == TOPIC
    assert message["reason"] == "why"
    assert (message["payload_bytes"], message["payload_truncated"]) == (4, False)


def test_deadletter_of_an_oversized_message_keeps_the_first_256_kib() -> None:
    """A dead letter stays publishable: at most MAX_PAYLOAD_BYTES of the rejected bytes."""
    from dorsi.server.deadletter import deadletter_message

    payload = bytes(range(256)) * (MAX_PAYLOAD_BYTES // 256 + 10)
    message = json.loads(deadletter_message(TOPIC, Rejected("too big", payload), now=NOW))
    assert base64.b64decode(message["payload_b64"]) == payload[:MAX_PAYLOAD_BYTES]
    assert (message["payload_bytes"], message["payload_truncated"]) == (len(payload), True)


def test_deadletter_reason_with_a_lone_surrogate_is_escaped() -> None:
    from dorsi.server.deadletter import deadletter_message

    message = json.loads(deadletter_message(TOPIC, Rejected("bad \ud800 text", b"x"), now=NOW))
    assert message["reason"] == "bad \\ud800 text"
