"""Hostile MQTT traffic: ≥ 10,000 malformed, oversized, wrongly typed and malicious payloads mixed
into valid traffic, through a real Mosquitto into a real ingest worker and a real store (influxd,
then SQLite).

The worker must survive all of it, store every valid stride exactly once and exactly as sent
(including valid strides whose gateway/algorithm strings carry line-protocol and SQL injection
attempts), store nothing else, and dead-letter every rejected message or stride exactly once, with
the original bytes and a reason naming what is wrong. What is valid is decided here from the
contract (docs/mqtt.md), not by asking the validator under test.

The traffic (10,600 messages of which 10,000 hostile, ~170 MB, 13,473 expected dead letters,
14,933 valid strides) is built once for both stores; each store run takes ~15-35 s on a shared
2-core machine, so the test runs in the default suite (marked ``services``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import random
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from dorsi.server.influx_store import InfluxConfig, InfluxStore
from dorsi.server.ingest import IngestOptions, IngestWorker, MqttConfig
from dorsi.server.schema import MAX_PAYLOAD_BYTES
from dorsi.server.sqlite_store import SQLiteStore
from dorsi.server.store import STRIDE_FLOAT_FIELDS, STRIDE_INT_FIELDS, Store, StrideRecord
from dorsi.server.synthetic import iter_strides, strides_payload
from tests.conftest import MosquittoBroker
from tests.server.conftest import InfluxServer

pytestmark = pytest.mark.services

N_HOSTILE = 10_000
N_VALID_MESSAGES = 600
SEED = 8
NOW = datetime.now(UTC).replace(microsecond=0)
VALID_START = NOW - timedelta(days=2)
BAD_START = NOW - timedelta(days=4)  # strides meant to be rejected never share a valid identity
FAR_PAST = datetime(2000, 1, 1, tzinfo=UTC)
FAR_FUTURE = NOW + timedelta(days=2)
PATIENTS = (("p-h1", "dorsi-h001", "left"), ("p-h2", "dorsi-h002", "right"))
PATIENTS_BY_DEVICE = {device: (patient, side) for patient, device, side in PATIENTS}
DEADLINE_S = 150.0  # only reached when something is wrong

HOSTILE_STRINGS = [
    "gw,patient=p-h2",
    "gw patient=p-h2 bout=1i",
    'gw"quoted"',
    "gw=eq",
    "back\\slash",
    "trailing\\",
    "\\",
    "new\nline",
    'x" 1700000000000000000\nstride,patient=p-h2,device=dorsi-h002,side=left bout=9i',
    "cr\rlf\r\n",
    "tab\there",
    "'; DROP TABLE strides; --",
    '" OR 1=1 --',
    "1; DELETE FROM strides WHERE 1=1",
    "Robert'); DROP TABLE patients;--",
    "gw\u0000nul",
    "ünïcödé ✓ 🦶 中文 עברית",
    "\u202eRTL override",
    "e\u0301 combining",
    " ",
    "x" * 128,
    'SELECT * FROM "stride"',
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
]
"""Valid gateway/algorithm strings (1-128 chars): they must be stored exactly."""

WRONG_VALUES: list[Any] = [
    None,
    "1.0",
    "",
    True,
    [],
    [1.0],
    {},
    {"$gt": 0},
    -1e308,
    1e308,
    10**30,
    -(10**30),
    2**63,
    -1,
    1e-320,
    "NaN",
    "Infinity",
    "'; DROP TABLE strides; --",
]

CONTRACT_RANGES: dict[str, tuple[float, float, bool]] = {
    "stride_time_s": (0.4, 4.0, False),
    "stance_time_s": (0.1, 3.5, False),
    "swing_time_s": (0.1, 3.5, False),
    "cadence_spm": (20.0, 240.0, False),
    "stride_length_m": (0.0, 3.0, True),
    "gait_speed_mps": (0.0, 4.0, True),
    "foot_strike_angle_deg": (-45.0, 60.0, True),
    "toe_off_angle_deg": (-100.0, 30.0, True),
    "midswing_pitch_deg": (-90.0, 90.0, True),
    "peak_swing_pitch_deg": (-90.0, 90.0, True),
    "min_toe_clearance_cm": (-5.0, 50.0, True),
    "slap_score": (0.0, 10.0, True),
    "drag_score": (0.0, 10.0, True),
    "quality": (0.0, 1.0, False),
}
"""docs/mqtt.md: (minimum, maximum, may be null) of every float metric of a stride."""
FLAGS = ("foot_slap", "toe_drag", "turn")


def _contract_accepts(name: str, value: Any) -> bool:
    """Whether docs/mqtt.md accepts ``value`` in stride field ``name`` (other fields unchanged).

    Only for the metric fields: the times, the consistency rules and the identity are untouched.
    """
    if value is None:
        return name in CONTRACT_RANGES and CONTRACT_RANGES[name][2]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False  # strict: no strings for numbers, no booleans
    if name in FLAGS:
        return type(value) is int and value in (0, 1)
    if name == "bout":
        return type(value) is int and 0 <= value <= 2**63 - 1
    low, high, _ = CONTRACT_RANGES[name]
    if name in ("stride_time_s", "stance_time_s", "swing_time_s", "cadence_spm"):
        return False  # any change breaks stride = next_ic_t - ic_t, stance + swing, cadence
    return low <= value <= high


@dataclass(frozen=True)
class Letter:
    """What identifies one dead letter: topic and the rejected bytes (or the rejected item)."""

    topic: str
    what: str
    """``message:<sha256 of the bytes kept>:<full length>`` or ``strides[i]:<canonical JSON>``."""


@dataclass
class Traffic:
    """What was published and what must come out of it."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    valid: dict[tuple[str, str], tuple[dict[str, Any], str, str]] = field(default_factory=dict)
    """(device, ic_t) → (stride, gateway, algorithm) of every stride that must be stored."""
    valid_writes: int = 0
    """Valid strides delivered (a duplicate delivery writes its strides again)."""
    dead: Counter[Letter] = field(default_factory=Counter)
    """Every dead letter expected, exactly once each (a multiset)."""
    hints: dict[Letter, tuple[str, ...]] = field(default_factory=dict)
    """Text one of which the dead letter's reason must contain."""
    unsubscribed: int = 0
    """Messages on topics the server does not subscribe to (never delivered to it)."""
    hostile: int = 0


def _topic(patient: str, device: str, kind: str = "strides") -> str:
    return f"dorsi/v1/{patient}/{device}/{kind}"


def _envelope(
    patient: str, device: str, side: str, strides: list[Any], **kw: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(strides_payload(patient, device, side, [{}]))
    obj["strides"] = strides
    obj.update(kw)
    return obj


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=True)


def _message_letter(topic: str, payload: bytes) -> Letter:
    kept = payload[:MAX_PAYLOAD_BYTES]
    return Letter(topic, f"message:{hashlib.sha256(kept).hexdigest()}:{len(payload)}")


def _item_letter(topic: str, index: int, item: Any) -> Letter:
    return Letter(topic, f"strides[{index}]:{_canonical(item)}")


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.bad = iter_strides(200_000, start=BAD_START, seed=99)
        self.traffic = Traffic()
        self.valid_iters = {
            device: iter_strides(100_000, start=VALID_START, seed=i)
            for i, (_, device, _) in enumerate(PATIENTS)
        }

    def bad_stride(self) -> dict[str, Any]:
        return next(self.bad)

    def add(self, topic: str, payload: bytes, *hint: str, valid_strides: int = 0) -> None:
        """One hostile message; ``hint``: the whole message is rejected with one of these."""
        self.traffic.messages.append((topic, payload))
        self.traffic.hostile += 1
        self.traffic.valid_writes += valid_strides
        if hint:
            self.expect(_message_letter(topic, payload), hint)

    def expect(self, letter: Letter, hint: tuple[str, ...]) -> None:
        self.traffic.dead[letter] += 1
        self.traffic.hints[letter] = hint

    # -- whole message rejected ----------------------------------------------------------
    def whole(self) -> None:
        rng = self.rng
        patient, device, side = rng.choice(PATIENTS)
        topic = _topic(patient, device)
        good = _dumps(_envelope(patient, device, side, [self.bad_stride()]))
        k = rng.randrange(22)
        obj = _envelope(patient, device, side, [self.bad_stride()])
        hint: tuple[str, ...]
        if k == 0:
            payload, hint = rng.randbytes(rng.randrange(0, 300)), ("payload: ",)
        elif k == 1:
            payload, hint = good[: rng.randrange(len(good) - 1)], ("payload: not JSON",)
        elif k == 2:
            payload, hint = b"\xff\xfe" + good, ("payload: not UTF-8",)
        elif k == 3:
            payload = rng.choice([b"[]", b"1", b'"x"', b"null", b"true", b"1e400", b"[{}]", b""])
            hint = ("payload: a JSON object is required", "payload: not JSON")
        elif k == 4:  # NaN/Infinity literals are not JSON numbers
            literal = rng.choice([b"NaN", b"Infinity", b"-Infinity"])
            payload = good.replace(b'"stride_time_s": ', b'"stride_time_s": ' + literal + b", x", 1)
            payload = payload.replace(b", x", b', "x":', 1)
            hint = ("is not allowed (numbers must be finite)",)
        elif k == 5:
            obj["schema"] = rng.choice(
                [
                    None,
                    1,
                    "dorsi.strides/2",
                    "dorsi.strides/1 ",
                    "DORSI.STRIDES/1",
                    "dorsi.activity/1",
                ]
            )
            payload, hint = _dumps(obj), ("schema: ",)
        elif k == 6:
            del obj["schema"]
            payload, hint = _dumps(obj), ("schema: None is not supported",)
        elif k == 7:
            obj[rng.choice(["patient", "device"])] = rng.choice(
                ["p-other", "p-h1,device=x", "p-h1' OR '1'='1", 1e400, None, ["p-h1"], "P-H1"]
            )
            payload = _dumps(obj)
            hint = ("does not match the topic", "Infinity is not allowed")
        elif k == 8:
            obj["side"] = rng.choice(["LEFT", "both", 1, None, "left\n", ""])
            payload, hint = _dumps(obj), ("side: ",)
        elif k == 9:
            key = rng.choice(["gateway", "algorithm"])
            obj[key] = rng.choice(["", "x" * 129, 123, ["gw"], {"gw": 1}, None, True])
            payload, hint = _dumps(obj), (f"{key}: ",)
        elif k == 10:
            obj["strides"] = rng.choice([[], "strides", {}, 5, None, [[]] * 501])
            payload, hint = _dumps(obj), ("strides: ",)
        elif k == 11:
            obj["pad"] = "x" * (MAX_PAYLOAD_BYTES + rng.randrange(1, 1000))
            payload, hint = _dumps(obj), (f"is above the maximum {MAX_PAYLOAD_BYTES}",)
        elif k == 12:
            depth = rng.choice([2000, 100_000])
            payload, hint = b"[" * depth + b"]" * depth, ("payload: not JSON",)
        elif k == 13:
            payload, hint = good.replace(b"{", b"{" * 5000, 1), ("payload: not JSON",)
        elif k == 14:  # bad ids in the topic itself
            bad_id = rng.choice(
                ["p h1", "p-h1'--", "p,h1=x", "p\\h1", "pé", "x" * 65, "", 'p"1', "p;DROP"]
            )
            topic = _topic(bad_id, device) if rng.random() < 0.5 else _topic(patient, bad_id)
            payload, hint = good, ("topic ",)
        elif k == 15:
            payload = _dumps(
                {
                    "schema": "dorsi.battery/1",
                    "patient": patient,
                    "device": device,
                    "t": rng.choice(["2026-13-01T00:00:00Z", "now", None, "1e400"]),
                    "battery_pct": rng.choice([50, -1, 101, "50", None, 1e400]),
                }
            ).replace(b"Infinity", b"1e999")
            topic, hint = _topic(patient, device, "battery"), ("t: ",)
        elif k == 16:
            payload = _dumps(
                {
                    "schema": "dorsi.status/1",
                    "patient": patient,
                    "device": device,
                    "state": rng.choice(["gone", None, 1, "ONLINE", "online\n"]),
                }
            )
            topic, hint = _topic(patient, device, "status"), ("state: ",)
        elif k == 17:
            payload = _dumps(
                {
                    "schema": "dorsi.activity/1",
                    "patient": patient,
                    "device": device,
                    "side": side,
                    "minutes": rng.choice([[], "x", None, [1] * 1441]),
                }
            )
            topic, hint = _topic(patient, device, "activity"), ("minutes: ",)
        elif k == 18:
            obj["strides"] = [self.bad_stride()] * 501  # the envelope refuses the count
            payload = json.dumps(obj, separators=(",", ":")).encode()  # compact: < 256 KiB
            hint = ("strides: list should have at most 500 items",)
        elif k == 19:  # a valid message on a wrong kind of topic
            topic = _topic(patient, device, rng.choice(["battery", "status", "activity"]))
            payload, hint = good, ("'dorsi.strides/1' is not supported on a",)
        elif k == 20:  # topics the server does not subscribe to: never delivered
            topic = rng.choice(
                [
                    f"dorsi/v1/{patient}/{device}/strides/extra",
                    f"dorsi/v2/{patient}/{device}/strides",
                    f"dorsi/v1/{patient}/{device}/unknown",
                    f"dorsi/v1/{patient}/strides",
                    "dorsi/v1/deadletter/x",
                ]
            )
            self.traffic.unsubscribed += 1
            self.add(topic, good)
            return
        else:
            payload, hint = json.dumps(obj).encode("utf-16"), ("payload: not UTF-8",)
        self.add(topic, payload, *hint)

    # -- envelope valid, some strides rejected -----------------------------------------------
    def per_stride(self) -> None:
        rng = self.rng
        patient, device, side = rng.choice(PATIENTS)
        topic = _topic(patient, device)
        gateway = rng.choice(HOSTILE_STRINGS)
        mixed: list[tuple[Any, str | None]] = []  # (stride, reason hint or None if valid)
        for _ in range(rng.randint(1, 6)):
            stride: Any = self.bad_stride()
            k = rng.randrange(8)
            hint: str | None = ""
            if k <= 2:
                name = rng.choice([*STRIDE_FLOAT_FIELDS, *STRIDE_INT_FIELDS, "quality"])
                value = rng.choice(WRONG_VALUES)
                stride[name] = value
                hint = None if _contract_accepts(name, value) else f".{name}: "
            elif k == 3:
                name = rng.choice(["ic_t", "to_t", "next_ic_t", "bout", "quality", "foot_slap"])
                del stride[name]
                hint = f".{name}: missing"
            elif k == 4:
                stride[rng.choice(["ic_t", "to_t", "next_ic_t"])] = rng.choice(
                    [
                        "2026-11-28T15:20:25Z' OR '1'='1",
                        "2026-11-28 15:20:25",
                        "1999-12-31T23:59:59.000000Z",
                        "2999-01-01T00:00:00.000000Z",
                        "2026-11-28T15:20:25.123456Z\n",
                        "",
                        1764343225,
                        None,
                    ]
                )
            elif k == 5:
                stride = rng.choice(["stride", 5, None, [], [stride], True])
                hint = ": input should be a valid dictionary"
            elif k == 6:
                stride["stride_time_s"] = stride["stride_time_s"] * 3  # inconsistent with times
                hint = ".stride_time_s: "
            else:
                stride["foot_slap"] = rng.choice([2, -1, 0.5, "1"])
                hint = ".foot_slap: "
            mixed.append((stride, hint))
        valid = self.valid_strides(device, rng.randint(0, 3))
        mixed += [(stride, None) for stride in valid]
        rng.shuffle(mixed)
        for i, (stride, hint) in enumerate(mixed):
            if hint is None:
                self.traffic.valid[(device, stride["ic_t"])] = (stride, gateway, gateway)
            else:
                self.expect(_item_letter(topic, i, stride), (f"strides[{i}]{hint}",))
        strides = [stride for stride, _ in mixed]
        payload = _dumps(
            _envelope(patient, device, side, strides, gateway=gateway, algorithm=gateway)
        )
        self.add(topic, payload, valid_strides=sum(hint is None for _, hint in mixed))

    # -- valid but hostile --------------------------------------------------------------------
    def valid_hostile(self) -> None:
        rng = self.rng
        patient, device, side = rng.choice(PATIENTS)
        gateway, algorithm = rng.choice(HOSTILE_STRINGS), rng.choice(HOSTILE_STRINGS)
        strides = self.valid_strides(device, rng.randint(1, 4))
        for stride in strides:
            self.traffic.valid[(device, stride["ic_t"])] = (stride, gateway, algorithm)
        extra: dict[str, Any] = {}
        if rng.random() < 0.3:
            extra["extra"] = rng.choice(
                [json.loads("[" * 300 + "]" * 300), "'; DROP TABLE strides; --", 1e308, None]
            )
        obj = _envelope(
            patient, device, side, strides, gateway=gateway, algorithm=algorithm, **extra
        )
        payload = _dumps(obj)
        self.add(_topic(patient, device), payload, valid_strides=len(strides))
        if rng.random() < 0.1:  # a duplicate delivery stores nothing twice
            self.add(_topic(patient, device), payload, valid_strides=len(strides))

    def valid_strides(self, device: str, n: int) -> list[dict[str, Any]]:
        return [next(self.valid_iters[device]) for _ in range(n)]


def _build_traffic() -> Traffic:
    rng = random.Random(SEED)
    gen = _Gen(rng)
    plain: list[tuple[str, bytes]] = []
    for _ in range(N_VALID_MESSAGES):
        patient, device, side = rng.choice(PATIENTS)
        strides = gen.valid_strides(device, rng.randint(1, 20))
        for stride in strides:
            gen.traffic.valid[(device, stride["ic_t"])] = (stride, "gw-home", "dorsi-signal")
        gen.traffic.valid_writes += len(strides)
        payload = strides_payload(
            patient, device, side, strides, gateway="gw-home", algorithm="dorsi-signal"
        )
        plain.append((_topic(patient, device), payload))
    while gen.traffic.hostile < N_HOSTILE:
        r = rng.random()
        if r < 0.55:
            gen.whole()
        elif r < 0.8:
            gen.per_stride()
        else:
            gen.valid_hostile()
    # Interleave the plain valid traffic with the hostile messages.
    messages = gen.traffic.messages + plain
    rng.shuffle(messages)
    gen.traffic.messages = messages
    return gen.traffic


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    """Built once for both stores (deterministic: seeded)."""
    return _build_traffic()


class _Client:
    """A QoS 1 MQTT 5 client that publishes in bulk and records what arrives on a subscription."""

    def __init__(self, port: int, subscribe: str | None = None) -> None:
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"hostile-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.max_inflight_messages_set(500)
        ready = threading.Event()

        def on_connect(c: mqtt.Client, *_: Any) -> None:
            if subscribe:
                c.subscribe(subscribe, qos=1)
            else:
                ready.set()

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append(bytes(msg.payload))

    def publish_all(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(60)

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def influxd() -> Iterator[InfluxServer]:
    workdir = Path(tempfile.mkdtemp(prefix="dorsi-hostile-influxd-"))
    server = InfluxServer(workdir)
    server.start()
    try:
        server.create_admin()
        yield server
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=["influxdb", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        sqlite = SQLiteStore(tmp_path / "dorsi.db")
        sqlite.bootstrap()
        yield sqlite
        sqlite.close()
        return
    server: InfluxServer = request.getfixturevalue("influxd")
    database = f"dorsi_{uuid.uuid4().hex[:10]}"
    influx = InfluxStore(
        InfluxConfig(
            url=server.url,
            database=database,
            username=server.username,
            password=server.password,
            retry_for_s=1.0,
        )
    )
    influx.bootstrap()
    yield influx
    influx.close()
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(
            f"{server.url}/query",
            data={"q": f'DROP DATABASE "{database}"'},
            auth=(server.username, server.password),
            timeout=10,
        )


def _stored(store: Store) -> list[StrideRecord]:
    out: list[StrideRecord] = []
    for patient, _, _ in PATIENTS:
        cursor: str | None = None
        while True:
            page = store.query_strides(patient, FAR_PAST, FAR_FUTURE, limit=10_000, cursor=cursor)
            out.extend(page.records)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return out


def _assert_nothing_else_stored(store: Store, traffic: Traffic) -> None:
    """Look at everything in the store, whatever its patient tag or time, not only the API."""
    valid = [stride for stride, _, _ in traffic.valid.values()]
    if isinstance(store, SQLiteStore):
        with contextlib.closing(sqlite3.connect(store.path)) as db:
            rows = db.execute("SELECT patient, device, side, ic_us FROM stride").fetchall()
            assert len(rows) == len(traffic.valid), "the stride table holds the valid strides only"
            assert {(p, s) for p, _, s, _ in rows} <= {(p, s) for p, _, s in PATIENTS}
            for table in ("activity", "battery", "status"):
                assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        return
    assert isinstance(store, InfluxStore)
    measurements = {row[0] for serie in store.query("SHOW MEASUREMENTS") for row in serie["values"]}
    assert measurements - {"daily"} == {"stride"}, measurements
    series = store.query('SHOW SERIES FROM "stride"')
    keys = {row[0] for serie in series for row in serie["values"]}
    expected_keys = {f"stride,device={d},patient={p},side={s}" for p, d, s in PATIENTS}
    assert keys == expected_keys, keys - expected_keys
    counts = store.query('SELECT count(*) FROM "stride"')[0]
    stored = dict(zip(counts["columns"], counts["values"][0], strict=True))
    stored.pop("time")
    expected = {f"count_{name}": len(valid) for name in ("to_t", "next_ic_t", "gateway")}
    expected["count_algorithm"] = len(valid)
    for name in (*STRIDE_FLOAT_FIELDS, *STRIDE_INT_FIELDS):
        expected[f"count_{name}"] = sum(stride[name] is not None for stride in valid)
    assert {k: v for k, v in stored.items() if v} == {k: v for k, v in expected.items() if v}


def _assert_dead_letters(letters: list[dict[str, Any]], traffic: Traffic) -> None:
    """Each expected dead letter arrived exactly once, with its bytes and a fitting reason."""
    received: Counter[Letter] = Counter()
    reasons: dict[Letter, str] = {}
    for letter in letters:
        assert letter["schema"] == "dorsi.deadletter/1"
        payload = base64.b64decode(letter["payload_b64"], validate=True)
        reason = letter["reason"]
        if reason.startswith("strides["):
            index = reason[len("strides[") : reason.index("]")]
            key = Letter(letter["topic"], f"strides[{index}]:{_canonical(json.loads(payload))}")
        else:
            total = letter["payload_bytes"]
            assert letter["payload_truncated"] == (total > MAX_PAYLOAD_BYTES)
            assert len(payload) == min(total, MAX_PAYLOAD_BYTES)
            key = Letter(letter["topic"], f"message:{hashlib.sha256(payload).hexdigest()}:{total}")
        received[key] += 1
        reasons[key] = reason
    missing = traffic.dead - received
    extra = received - traffic.dead
    assert not extra, (
        f"{sum(extra.values())} unexpected or repeated dead letters, "
        f"e.g. {[reasons[k] for k in list(extra)[:3]]}"
    )
    assert not missing, f"{sum(missing.values())} dead letters missing, e.g. {list(missing)[:2]}"
    wrong = [
        (reasons[key], hints)
        for key, hints in traffic.hints.items()
        if not any(hint in reasons[key] for hint in hints)
    ]
    assert not wrong, f"{len(wrong)} reasons do not say what is wrong, e.g. {wrong[:3]}"


def test_hostile_traffic_stores_exactly_the_valid_strides(
    mosquitto: MosquittoBroker,
    store: Store,
    traffic: Traffic,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert traffic.hostile >= N_HOSTILE
    expected_dead = sum(traffic.dead.values())
    began = time.monotonic()
    worker = IngestWorker(
        store,
        MqttConfig(port=mosquitto.port, client_id=f"ingest-{uuid.uuid4().hex[:6]}"),
        options=IngestOptions(linger_s=0.02, rollup_interval_s=1.0),
    )
    worker.start()
    dead = _Client(mosquitto.port, subscribe="dorsi/v1/deadletter")
    pub = _Client(mosquitto.port)
    delivered = len(traffic.messages) - traffic.unsubscribed
    try:
        assert worker.wait_connected(10)
        time.sleep(0.3)  # subscriptions granted
        pub.publish_all(traffic.messages)
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and (
            worker.metrics.messages_acked < delivered or dead.count() < expected_dead
        ):
            time.sleep(0.1)
        time.sleep(0.5)  # anything extra would show now
        assert all(t.is_alive() for t in worker._threads), "the worker survived"
        metrics = worker.metrics
        assert metrics.messages_received == delivered
        assert metrics.messages_acked == delivered, "every message acknowledged"
        assert metrics.unacked == 0
        assert metrics.internal_errors == 0
        assert metrics.store_refused == 0, "no valid stride refused by the store"
        assert metrics.rejected == expected_dead, "the rejection counter matches"
        assert metrics.deadletters_unsubscribed == 0
        assert metrics.strides_written == traffic.valid_writes
        records = _stored(store)
    finally:
        pub.close()
        worker.stop()
    letters = [json.loads(m) for m in dead.received]
    dead.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[:3]
    logged = [r for r in caplog.records if r.getMessage().startswith("dead letter from ")]
    assert len(logged) == expected_dead, "each dead letter logged once"

    _assert_dead_letters(letters, traffic)
    keys = [(r.device, r.stride.ic_t) for r in records]
    assert len(keys) == len(set(keys)), "each stride stored once"
    assert set(keys) == set(traffic.valid), "exactly the valid strides are stored"
    for record in records:
        sent, gateway, algorithm = traffic.valid[(record.device, record.stride.ic_t)]
        assert (record.gateway, record.algorithm) == (gateway, algorithm)
        assert (record.stride.to_t, record.stride.next_ic_t) == (sent["to_t"], sent["next_ic_t"])
        for name in (*STRIDE_FLOAT_FIELDS, *STRIDE_INT_FIELDS):
            assert getattr(record.stride, name) == sent[name], (name, record.stride.ic_t)
        assert PATIENTS_BY_DEVICE[record.device] == (record.patient, record.side)
    _assert_nothing_else_stored(store, traffic)
    print(
        f"\n{type(store).__name__}: {len(traffic.messages)} messages ({traffic.hostile} hostile, "
        f"{delivered} delivered), {len(records)} valid strides stored, {len(letters)} dead "
        f"letters, {time.monotonic() - began:.1f} s"
    )
