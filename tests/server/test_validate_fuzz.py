"""Property tests of the validator: anything in, a documented result out, and what is accepted
reaches both stores and comes back with the same values.

- arbitrary bytes or JSON on any topic: :func:`read_message` returns accepted items and/or
  :class:`Rejected` (never raises), every item is accounted for, and every rejection makes a valid
  dead letter;
- every stride the contract (docs/mqtt.md) allows is accepted, and round-trips through line
  protocol and the real influxd (and SQLite) to the same values, whatever its gateway/algorithm
  text holds (commas, spaces, quotes, equals signs, backslashes, newlines, NUL, ...).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dorsi.server.deadletter import deadletter_message
from dorsi.server.influx_store import InfluxConfig, InfluxStore, _stride_line
from dorsi.server.lineprotocol import INT64_MAX
from dorsi.server.schema import (
    MAX_PAYLOAD_BYTES,
    MAX_STRIDES_PER_MINUTE,
    DeadLetter,
    format_utc,
)
from dorsi.server.sqlite_store import SQLiteStore
from dorsi.server.store import STRIDE_FLOAT_FIELDS, STRIDE_INT_FIELDS, Store, StrideRecord
from dorsi.server.synthetic import strides_payload, synthetic_strides
from dorsi.server.validate import (
    KINDS,
    ActivityIn,
    BatteryIn,
    Rejected,
    StatusIn,
    StridesIn,
    read_message,
)
from tests.server.conftest import InfluxServer

NOW = datetime.now(UTC).replace(microsecond=0)
FAR_PAST = datetime(2000, 1, 1, tzinfo=UTC)
HOSTILE_TEXT = [
    'gw,patient=x side=left bout=1i "q" \\ \n x=1 1700000000000000000',
    "trailing\\",
    "cr\r\nlf\x00nul\ttab",
    "'; DROP TABLE stride; --",
    'a="b",c=d e\\=f',
]

# -- anything in -----------------------------------------------------------------------------------

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
json_text = st.text(st.characters() | surrogates, max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text
    | st.sampled_from([float("inf"), float("nan"), 2**63, 2**63 - 1, -1, 0, 1, 1.0, 150, 151])
    | st.sampled_from(["2026-11-28T15:20:25.123456Z", "left", "walking", "online"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)


def _base(kind: str) -> dict[str, Any]:
    """A valid message of ``kind`` (docs/mqtt.md) to mutate."""
    ids = {"patient": "p-7f3a", "device": "dorsi-1a2b"}
    t = format_utc(NOW - timedelta(hours=1))
    if kind == "strides":
        strides = synthetic_strides(3, start=NOW - timedelta(hours=2), seed=1)
        return json.loads(strides_payload(ids["patient"], ids["device"], "left", strides))
    if kind == "activity":
        minute = {"t": format_utc(NOW.replace(second=0) - timedelta(hours=1)), "state": "walking"}
        minute.update(worn_s=60.0, walking_s=41.5, strides=38)
        return {"schema": "dorsi.activity/1", **ids, "side": "left", "minutes": [minute] * 2}
    if kind == "battery":
        return {"schema": "dorsi.battery/1", **ids, "t": t, "battery_pct": 87}
    return {"schema": "dorsi.status/1", **ids, "state": "online", "outbox_backlog": 3, "t": t}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A topic and a payload: a valid message with some fields (or items' fields) replaced."""
    kind = draw(st.sampled_from(KINDS))
    obj = _base(kind)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):  # mostly a valid envelope
        key = draw(st.sampled_from(sorted(obj)) | json_text)
        obj[key] = draw(json_values)
    items = obj.get("strides" if kind == "strides" else "minutes")
    if isinstance(items, list) and items:
        for _ in range(draw(st.integers(0, 4))):  # then some items' fields
            i = draw(st.integers(0, len(items) - 1))
            item = items[i] = dict(items[i]) if isinstance(items[i], dict) else {}
            key = draw(st.sampled_from(sorted(item) or ["x"]) | json_text)
            if draw(st.booleans()):
                item[key] = draw(json_values)
            else:
                item.pop(key, None)
    topic_kind = draw(st.sampled_from([kind] * 8 + list(KINDS)))
    patient = draw(st.sampled_from(["p-7f3a"] * 8 + ["p-other", "p 1", "p-7f3a/x"]))
    topic = f"dorsi/v1/{patient}/dorsi-1a2b/{topic_kind}"
    payload = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    return topic, payload


def _check_dead_letter(topic: str, rejected: Rejected) -> None:
    letter = DeadLetter.model_validate_json(deadletter_message(topic, rejected))
    assert letter.reason
    kept = base64.b64decode(letter.payload_b64, validate=True)
    assert kept == rejected.payload[:MAX_PAYLOAD_BYTES]
    assert letter.payload_bytes == len(rejected.payload)


def _check_result(topic: str, payload: bytes) -> None:
    """Every documented property of one :func:`read_message` result."""
    result = read_message(topic, payload, now=NOW)
    if isinstance(result, Rejected):
        assert result.reason
        assert result.payload == payload, "a rejected message is dead-lettered whole"
        _check_dead_letter(topic, result)
        return
    obj = json.loads(payload)
    for rejected in result.rejected:
        _check_dead_letter(topic, rejected)
    if isinstance(result, StridesIn):
        given_items, accepted, name = obj["strides"], result.strides, "strides"
    elif isinstance(result, ActivityIn):
        given_items, accepted, name = obj["minutes"], result.minutes, "minutes"
        assert all(0 <= m.strides <= MAX_STRIDES_PER_MINUTE for m in accepted)
    else:
        assert isinstance(result, BatteryIn | StatusIn)
        assert not result.rejected
        if isinstance(result, StatusIn) and result.message.outbox_backlog is not None:
            assert 0 <= result.message.outbox_backlog <= INT64_MAX
        return
    assert len(accepted) + len(result.rejected) == len(given_items), "nothing vanishes"
    assert result.indices == sorted(set(result.indices))
    refused = [i for i in range(len(given_items)) if i not in result.indices]
    for i, rejected in zip(refused, result.rejected, strict=True):
        assert rejected.reason.startswith(f"{name}[{i}]"), rejected.reason
        assert json.loads(rejected.payload) == given_items[i], "the bad item is kept whole"
    if isinstance(result, StridesIn):
        env = result.envelope
        for stride in result.strides:
            assert all(0 <= getattr(stride, f) <= INT64_MAX for f in STRIDE_INT_FIELDS)
            record = StrideRecord(env.patient, env.device, env.side, env.gateway, "a", stride)
            assert _stride_line(record).startswith("stride,"), "encodes as line protocol"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([*KINDS, "other", ""]))
def test_arbitrary_bytes_are_rejected_never_raise(payload: bytes, kind: str) -> None:
    _check_result(f"dorsi/v1/p-7f3a/dorsi-1a2b/{kind}", payload)


@settings(max_examples=1500, deadline=None)
@given(mutated())
@example(("dorsi/v1/p-7f3a/dorsi-1a2b/strides", b'{"schema": "dorsi.strides/1"}'))
def test_arbitrary_json_gives_a_documented_result(message: tuple[str, bytes]) -> None:
    _check_result(*message)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters() | surrogates, max_size=40), st.binary(max_size=3 * 1024))
@example("why", b"x" * (MAX_PAYLOAD_BYTES + 1))
def test_dead_letter_never_raises(reason: str, payload: bytes) -> None:
    letter = DeadLetter.model_validate_json(
        deadletter_message("dorsi/v1/p/d/strides", Rejected(reason or "r", payload))
    )
    kept = base64.b64decode(letter.payload_b64)
    assert kept == payload[:MAX_PAYLOAD_BYTES]
    assert letter.payload_truncated == (len(payload) > MAX_PAYLOAD_BYTES)


# -- what the contract allows, accepted and stored exactly -----------------------------------------


def _range(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


NULLABLE = {
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
ids = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)
texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=128)


@st.composite
def contract_strides(draw: st.DrawFn, start: datetime) -> list[dict[str, Any]]:
    """1-5 consecutive strides within every bound of docs/mqtt.md."""
    out: list[dict[str, Any]] = []
    ic = start
    for _ in range(draw(st.integers(1, 5))):
        # cadence = 120 / stride time must stay <= 240 steps/min: stride time >= 0.5 s
        stride_us = draw(st.integers(500_000, 4_000_000))
        # stance and swing each 0.1-3.5 s
        stance_us = draw(
            st.integers(max(100_000, stride_us - 3_500_000), min(3_500_000, stride_us - 100_000))
        )
        stride_s = stride_us / 1e6
        cadence = 120.0 / stride_s * draw(_range(0.995, 1.005))
        stride: dict[str, Any] = {
            "ic_t": format_utc(ic),
            "to_t": format_utc(ic + timedelta(microseconds=stance_us)),
            "next_ic_t": format_utc(ic + timedelta(microseconds=stride_us)),
            "stride_time_s": stride_s,
            "stance_time_s": stance_us / 1e6,
            "swing_time_s": (stride_us - stance_us) / 1e6,
            "cadence_spm": min(240.0, max(20.0, cadence)),
            "foot_slap": draw(st.sampled_from([0, 1])),
            "toe_drag": draw(st.sampled_from([0, 1])),
            "turn": draw(st.sampled_from([0, 1])),
            "bout": draw(st.integers(0, INT64_MAX) | st.sampled_from([0, INT64_MAX])),
            "quality": draw(_range(0.0, 1.0)),
        }
        for name, (low, high) in NULLABLE.items():
            stride[name] = draw(st.none() | _range(low, high))
        out.append(stride)
        ic += timedelta(microseconds=stride_us + draw(st.integers(0, 10**8)))
    return out


_patients = itertools.count()


def _roundtrip(store: Store, draw: st.DataObject) -> None:
    patient = f"{draw.draw(ids, 'patient')}-{next(_patients)}"
    device = draw.draw(ids, "device")
    side = draw.draw(st.sampled_from(["left", "right"]), "side")
    gateway = draw.draw(texts | st.sampled_from(HOSTILE_TEXT), "gateway")
    algorithm = draw.draw(texts | st.sampled_from(HOSTILE_TEXT), "algorithm")
    start = NOW - timedelta(days=30) + timedelta(seconds=draw.draw(st.integers(0, 29 * 86400)))
    strides = draw.draw(contract_strides(start), "strides")
    payload = strides_payload(patient, device, side, strides, gateway=gateway, algorithm=algorithm)
    result = read_message(f"dorsi/v1/{patient}/{device}/strides", payload, now=NOW)
    assert isinstance(result, StridesIn), getattr(result, "reason", "")
    assert not result.rejected, [r.reason for r in result.rejected]
    env = result.envelope
    store.write_strides(
        [StrideRecord(patient, device, side, env.gateway, env.algorithm, s) for s in result.strides]
    )
    page = store.query_strides(patient, FAR_PAST, NOW + timedelta(days=1), limit=10)
    assert [r.stride.ic_t for r in page.records] == [s["ic_t"] for s in strides]
    for record, sent in zip(page.records, strides, strict=True):
        assert (record.patient, record.device, record.side) == (patient, device, side)
        assert (record.gateway, record.algorithm) == (gateway, algorithm)
        assert (record.stride.to_t, record.stride.next_ic_t) == (sent["to_t"], sent["next_ic_t"])
        for name in (*STRIDE_FLOAT_FIELDS, *STRIDE_INT_FIELDS):
            assert getattr(record.stride, name) == sent[name], name


@pytest.fixture
def influx_store(influxd: InfluxServer, influx_db: str) -> Iterator[InfluxStore]:
    store = InfluxStore(
        InfluxConfig(
            url=influxd.url,
            database=influx_db,
            username=influxd.username,
            password=influxd.password,
            retry_for_s=2.0,
        )
    )
    store.bootstrap()
    yield store
    store.close()


@pytest.mark.services
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_accepted_strides_round_trip_through_influxd(
    influx_store: InfluxStore, data: st.DataObject
) -> None:
    """Line protocol escaping and int64/float encoding as the real influxd parses them."""
    _roundtrip(influx_store, data)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    store = SQLiteStore(Path(tmp_path_factory.mktemp("fuzz")) / "dorsi.db")
    store.bootstrap()
    yield store
    store.close()


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_accepted_strides_round_trip_through_sqlite(
    sqlite_store: SQLiteStore, data: st.DataObject
) -> None:
    _roundtrip(sqlite_store, data)
