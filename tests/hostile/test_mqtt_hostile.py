"""Hostile MQTT traffic: ≥ 10,000 malformed, oversized, wrongly typed and malicious payloads mixed
into valid traffic, through a real Mosquitto into a real ingest worker and a real store (influxd,
then SQLite).

The worker must survive all of it, store every valid stride exactly once and exactly as sent
(including valid strides whose gateway/algorithm strings carry line-protocol and SQL injection
attempts), store nothing else, and dead-letter every rejected message or stride once.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import shutil
import tempfile
import threading
import time
import uuid
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
from dorsi.server.synthetic import strides_payload, synthetic_strides
from tests.conftest import MosquittoBroker
from tests.server.conftest import InfluxServer

# Opt-in (scripts/test.sh -m chaos) until it passes: the worker stalls acknowledging after ~8k of
# 10k hostile messages (dead-letter publishing), issue 8.
pytestmark = [pytest.mark.services, pytest.mark.chaos]

N_HOSTILE = 10_000
N_VALID_MESSAGES = 600
SEED = 8
NOW = datetime.now(UTC).replace(microsecond=0)
VALID_START = NOW - timedelta(days=2)
BAD_START = NOW - timedelta(days=4)  # strides meant to be rejected never share a valid identity
FAR_PAST = datetime(2001, 1, 1, tzinfo=UTC)
FAR_FUTURE = NOW + timedelta(days=2)
PATIENTS = (("p-h1", "dorsi-h001", "left"), ("p-h2", "dorsi-h002", "right"))

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


@dataclass
class Traffic:
    """What was published and what must come out of it."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    valid: dict[tuple[str, str], tuple[dict[str, Any], str, str]] = field(default_factory=dict)
    """(device, ic_t) → (stride, gateway, algorithm) of every stride that must be stored."""
    dead: int = 0
    """Dead letters expected: one per rejected message, one per rejected stride."""
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


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.bad = iter(synthetic_strides(200_000, start=BAD_START, seed=99))
        self.traffic = Traffic()

    def bad_stride(self) -> dict[str, Any]:
        return next(self.bad)

    def add(self, topic: str, payload: bytes, dead: int) -> None:
        self.traffic.messages.append((topic, payload))
        self.traffic.dead += dead
        self.traffic.hostile += 1

    # -- whole message rejected ----------------------------------------------------------
    def whole(self) -> None:
        rng = self.rng
        patient, device, side = rng.choice(PATIENTS)
        topic = _topic(patient, device)
        good = _dumps(_envelope(patient, device, side, [self.bad_stride()]))
        k = rng.randrange(22)
        obj = _envelope(patient, device, side, [self.bad_stride()])
        if k == 0:
            payload = rng.randbytes(rng.randrange(0, 300))
        elif k == 1:
            payload = good[: rng.randrange(len(good) - 1)]
        elif k == 2:
            payload = b"\xff\xfe" + good
        elif k == 3:
            payload = rng.choice([b"[]", b"1", b'"x"', b"null", b"true", b"1e400", b"[{}]", b""])
        elif k == 4:  # NaN/Infinity literals are not JSON numbers
            literal = rng.choice([b"NaN", b"Infinity", b"-Infinity"])
            payload = good.replace(b'"stride_time_s": ', b'"stride_time_s": ' + literal + b", x", 1)
            payload = payload.replace(b", x", b', "x":', 1)
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
            payload = _dumps(obj)
        elif k == 6:
            del obj["schema"]
            payload = _dumps(obj)
        elif k == 7:
            obj[rng.choice(["patient", "device"])] = rng.choice(
                ["p-other", "p-h1,device=x", "p-h1' OR '1'='1", 1e400, None, ["p-h1"], "P-H1"]
            )
            payload = _dumps(obj)
        elif k == 8:
            obj["side"] = rng.choice(["LEFT", "both", 1, None, "left\n", ""])
            payload = _dumps(obj)
        elif k == 9:
            obj[rng.choice(["gateway", "algorithm"])] = rng.choice(
                ["", "x" * 129, 123, ["gw"], {"gw": 1}, None, True]
            )
            payload = _dumps(obj)
        elif k == 10:
            obj["strides"] = rng.choice([[], "strides", {}, 5, None, [[]] * 501])
            payload = _dumps(obj)
        elif k == 11:
            obj["pad"] = "x" * (MAX_PAYLOAD_BYTES + rng.randrange(1, 1000))
            payload = _dumps(obj)
        elif k == 12:
            depth = rng.choice([2000, 100_000])
            payload = b"[" * depth + b"]" * depth
        elif k == 13:
            payload = good.replace(b"{", b"{" * 5000, 1)
        elif k == 14:  # bad ids in the topic itself
            bad_id = rng.choice(
                ["p h1", "p-h1'--", "p,h1=x", "p\\h1", "pé", "x" * 65, "", 'p"1', "p;DROP"]
            )
            topic = _topic(bad_id, device) if rng.random() < 0.5 else _topic(patient, bad_id)
            payload = good
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
            topic = _topic(patient, device, "battery")
        elif k == 16:
            payload = _dumps(
                {
                    "schema": "dorsi.status/1",
                    "patient": patient,
                    "device": device,
                    "state": rng.choice(["gone", None, 1, "ONLINE", "online\n"]),
                }
            )
            topic = _topic(patient, device, "status")
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
            topic = _topic(patient, device, "activity")
        elif k == 18:
            obj["strides"] = [self.bad_stride() for _ in range(501)]
            payload = _dumps(obj)
        elif k == 19:  # a valid message on a wrong kind of topic
            topic = _topic(patient, device, rng.choice(["battery", "status", "activity"]))
            payload = good
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
            self.add(topic, good, 0)
            return
        else:
            payload = json.dumps(obj).encode("utf-16")
        self.add(topic, payload, 1)

    # -- envelope valid, some strides rejected -----------------------------------------------
    def per_stride(self) -> None:
        rng = self.rng
        patient, device, side = rng.choice(PATIENTS)
        strides: list[Any] = []
        dead = 0
        gateway = rng.choice(HOSTILE_STRINGS)
        for _ in range(rng.randint(1, 6)):
            stride: Any = self.bad_stride()
            k = rng.randrange(8)
            if k <= 2:
                stride[rng.choice([*STRIDE_FLOAT_FIELDS, *STRIDE_INT_FIELDS, "quality"])] = (
                    rng.choice(WRONG_VALUES)
                )
            elif k == 3:
                del stride[
                    rng.choice(["ic_t", "to_t", "next_ic_t", "bout", "quality", "foot_slap"])
                ]
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
            elif k == 6:
                stride["stride_time_s"] = stride["stride_time_s"] * 3  # inconsistent with times
            else:
                stride["foot_slap"] = rng.choice([2, -1, 0.5, "1"])
            strides.append(stride)
            if isinstance(stride, dict) and _still_valid(stride):
                # e.g. null in a nullable field: the validator's word is final; it must be stored
                self.traffic.valid[(device, stride["ic_t"])] = (stride, gateway, gateway)
            else:
                dead += 1
        valid = self.valid_strides(patient, device, rng.randint(0, 3), gateway, gateway)
        mixed = strides + valid
        rng.shuffle(mixed)
        payload = _dumps(
            _envelope(patient, device, side, mixed, gateway=gateway, algorithm=gateway)
        )
        self.add(_topic(patient, device), payload, dead)

    # -- valid but hostile --------------------------------------------------------------------
    def valid_hostile(self) -> None:
        rng = self.rng
        patient, device, side = rng.choice(PATIENTS)
        gateway, algorithm = rng.choice(HOSTILE_STRINGS), rng.choice(HOSTILE_STRINGS)
        strides = self.valid_strides(patient, device, rng.randint(1, 4), gateway, algorithm)
        extra: dict[str, Any] = {}
        if rng.random() < 0.3:
            extra["extra"] = rng.choice(
                [json.loads("[" * 300 + "]" * 300), "'; DROP TABLE strides; --", 1e308, None]
            )
        obj = _envelope(
            patient, device, side, strides, gateway=gateway, algorithm=algorithm, **extra
        )
        payload = _dumps(obj)
        self.add(_topic(patient, device), payload, 0)
        if rng.random() < 0.1:  # a duplicate delivery stores nothing twice
            self.add(_topic(patient, device), payload, 0)

    def valid_strides(
        self, patient: str, device: str, n: int, gateway: str, algorithm: str
    ) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            stride = next(self.valid_iters[device])
            self.traffic.valid[(device, stride["ic_t"])] = (stride, gateway, algorithm)
            out.append(stride)
        return out

    valid_iters: dict[str, Iterator[dict[str, Any]]]


def _still_valid(stride: dict[str, Any]) -> bool:
    from dorsi.server.schema import Stride

    try:
        Stride.model_validate(stride, context={"now": NOW})
    except ValueError:
        return False
    return True


def _traffic() -> Traffic:
    rng = random.Random(SEED)
    gen = _Gen(rng)
    gen.valid_iters = {
        device: iter(synthetic_strides(100_000, start=VALID_START, seed=i))
        for i, (_, device, _) in enumerate(PATIENTS)
    }
    plain: list[tuple[str, bytes]] = []
    for _ in range(N_VALID_MESSAGES):
        patient, device, side = rng.choice(PATIENTS)
        strides = gen.valid_strides(patient, device, rng.randint(1, 20), "gw-home", "dorsi-signal")
        plain.append((_topic(patient, device), strides_payload(patient, device, side, strides)))
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
    for patient, _, _ in [*PATIENTS, ("p-other", "", "")]:
        cursor: str | None = None
        while True:
            page = store.query_strides(patient, FAR_PAST, FAR_FUTURE, limit=10_000, cursor=cursor)
            out.extend(page.records)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return out


def test_hostile_traffic_stores_exactly_the_valid_strides(
    mosquitto: MosquittoBroker, store: Store
) -> None:
    traffic = _traffic()
    assert traffic.hostile >= N_HOSTILE
    began = time.monotonic()
    worker = IngestWorker(
        store,
        MqttConfig(port=mosquitto.port, client_id=f"ingest-{uuid.uuid4().hex[:6]}"),
        options=IngestOptions(linger_s=0.02, rollup_interval_s=1.0),
    )
    worker.start()
    dead = _Client(mosquitto.port, subscribe="dorsi/v1/deadletter")
    pub = _Client(mosquitto.port)
    try:
        assert worker.wait_connected(10)
        time.sleep(0.3)  # subscriptions granted
        pub.publish_all(traffic.messages)
        delivered = len(traffic.messages) - traffic.unsubscribed
        deadline = time.monotonic() + 200  # a loaded 2-core machine; ~60 s when idle
        while time.monotonic() < deadline and (
            worker.metrics.messages_acked < delivered or dead.count() < traffic.dead
        ):
            time.sleep(0.2)
        time.sleep(0.5)  # anything extra would show now
        records = _stored(store)
        assert all(t.is_alive() for t in worker._threads), "the worker survived"
        assert worker.metrics.messages_received == delivered
        assert worker.metrics.messages_acked == delivered
    finally:
        pub.close()
        worker.stop()
    letters = [json.loads(m) for m in dead.received]
    dead.close()
    reasons = [letter["reason"] for letter in letters]
    refused = [r for r in reasons if "store refused" in r]
    assert not refused, f"a valid batch was refused by the store: {refused[:3]}"
    assert len(letters) == traffic.dead, "every rejection dead-lettered once"
    for letter in letters:
        assert letter["reason"]
        assert base64.b64decode(letter["payload_b64"]) is not None
    keys = [(r.device, r.stride.ic_t) for r in records]
    assert len(keys) == len(set(keys)), "each stride stored once"
    assert set(keys) == set(traffic.valid), "exactly the valid strides are stored"
    for record in records:
        sent, gateway, algorithm = traffic.valid[(record.device, record.stride.ic_t)]
        assert (record.gateway, record.algorithm) == (gateway, algorithm)
        assert (record.stride.to_t, record.stride.next_ic_t) == (sent["to_t"], sent["next_ic_t"])
        for name in STRIDE_FLOAT_FIELDS:
            value = getattr(record.stride, name)
            assert value == pytest.approx(sent[name], rel=1e-12), (name, value, sent[name])
        for name in STRIDE_INT_FIELDS:
            assert getattr(record.stride, name) == sent[name], name
        assert dict(PATIENTS_BY_DEVICE)[record.device] == (record.patient, record.side)
    print(
        f"\n{type(store).__name__}: {len(traffic.messages)} messages ({traffic.hostile} hostile), "
        f"{len(records)} valid strides stored, {len(letters)} dead letters, "
        f"{time.monotonic() - began:.1f} s"
    )


PATIENTS_BY_DEVICE = [(device, (patient, side)) for patient, device, side in PATIENTS]
