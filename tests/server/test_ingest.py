"""Ingest end to end: real Mosquitto → IngestWorker → real influxd; no loss, no duplicates."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from dorsi.server.influx_store import InfluxConfig, InfluxStore
from dorsi.server.ingest import IngestOptions, IngestWorker, MqttConfig
from dorsi.server.partition import owner_of
from dorsi.server.schema import Stride
from dorsi.server.store import StrideRecord, to_us
from dorsi.server.synthetic import strides_payload, synthetic_strides
from tests.conftest import MosquittoBroker
from tests.server.conftest import InfluxServer
from tests.server.ingest_process import start_ingest

pytestmark = pytest.mark.services

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
FAR_PAST = datetime(2001, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime.now(UTC) + timedelta(days=2)


NO_MATCHING_SUBSCRIBERS = 16
"""MQTT 5 PUBACK reason 0x10: accepted, but nobody subscribes, so the broker drops it."""


class Client:
    """A QoS 1 MQTT 5 client that publishes and records what arrives on its subscriptions."""

    def __init__(self, port: int, subscribe: str | None = None) -> None:
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        ready = threading.Event()

        def on_connect(c: mqtt.Client, *_: Any) -> None:
            if subscribe:
                c.subscribe(subscribe, qos=1)
            ready.set()

        self._reasons: dict[int, int] = {}

        def on_publish(c: mqtt.Client, u: object, mid: int, reason: Any, props: Any) -> None:
            self._reasons[mid] = reason.value

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.on_publish = on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10)
        time.sleep(0.1)  # let the SUBACK land

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append(bytes(msg.payload))

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 and wait; returns the PUBACK reason code (0: accepted)."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        return self._reasons.pop(info.mid, 0)

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[bytes]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"got {len(self.received)} of {count} messages")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def influx_config(influxd: InfluxServer, influx_db: str) -> InfluxConfig:
    return InfluxConfig(
        url=influxd.url,
        database=influx_db,
        username=influxd.username,
        password=influxd.password,
        retry_for_s=1.0,
    )


@pytest.fixture
def store(influx_config: InfluxConfig) -> Iterator[InfluxStore]:
    made = InfluxStore(influx_config)
    made.bootstrap()
    yield made
    made.close()


@pytest.fixture
def start_worker(
    mosquitto: MosquittoBroker, store: InfluxStore
) -> Iterator[Callable[..., IngestWorker]]:
    workers: list[IngestWorker] = []

    def start(client_id: str, **mqtt: Any) -> IngestWorker:
        worker = IngestWorker(
            store,
            MqttConfig(port=mosquitto.port, client_id=client_id, receive_maximum=200, **mqtt),
            options=IngestOptions(linger_s=0.02, rollup_interval_s=0.5),
        )
        worker.start()
        assert worker.wait_connected(10)
        time.sleep(0.2)  # subscriptions granted
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def stored(store: InfluxStore, patient: str) -> list[StrideRecord]:
    out: list[StrideRecord] = []
    cursor: str | None = None
    while True:
        page = store.query_strides(patient, FAR_PAST, FAR_FUTURE, limit=10_000, cursor=cursor)
        out.extend(page.records)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def wait_stored(
    store: InfluxStore, patient: str, count: int, timeout_s: float = 30.0
) -> list[StrideRecord]:
    deadline = time.monotonic() + timeout_s
    while True:
        records = stored(store, patient)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def stream(
    patient: str, device: str, messages: int, per_message: int
) -> list[tuple[list[dict[str, Any]], bytes]]:
    strides = synthetic_strides(messages * per_message, start=START, seed=hash(patient) % 1000)
    out = []
    for i in range(messages):
        chunk = strides[i * per_message : (i + 1) * per_message]
        out.append((chunk, strides_payload(patient, device, "left", chunk)))
    return out


def test_valid_stored_once_and_garbage_dead_lettered(
    mosquitto: MosquittoBroker, store: InfluxStore, start_worker: Callable[[str], IngestWorker]
) -> None:
    worker = start_worker("ingest-a")
    dead = Client(mosquitto.port, subscribe="dorsi/v1/deadletter")
    pub = Client(mosquitto.port)
    topic = "dorsi/v1/p-a/dorsi-aa01/strides"
    good = stream("p-a", "dorsi-aa01", 10, 50)
    bad_stride = dict(good[3][0][0], stride_time_s=30.0)
    mixed = [*good[3][0][1:], bad_stride]
    garbage: list[tuple[str, bytes]] = [
        (topic, b"{not json"),
        (topic, b'{"schema": "dorsi.strides/9"}'),
        (topic, b"x" * (256 * 1024 + 1)),
        (topic, strides_payload("p-other", "dorsi-aa01", "left", good[0][0])),
        ("dorsi/v1/p-a/dorsi-aa01/battery", b'{"schema": "dorsi.battery/1", "battery_pct": 999}'),
    ]
    for i, (_, payload) in enumerate(good):
        if i == 3:
            payload = strides_payload("p-a", "dorsi-aa01", "left", mixed)
        pub.publish(topic, payload)
        if i < len(garbage):
            pub.publish(*garbage[i])
    pub.publish(topic, good[5][1])  # a duplicate delivery
    status = {
        "schema": "dorsi.status/1",
        "patient": "p-a",
        "device": "dorsi-aa01",
        "state": "offline",
    }
    pub.publish("dorsi/v1/p-a/dorsi-aa01/status", json.dumps(status).encode())
    expected = {s["ic_t"] for chunk, _ in good for s in chunk} - {good[3][0][0]["ic_t"]}
    records = wait_stored(store, "p-a", len(expected))
    letters = [json.loads(m) for m in dead.wait_for(len(garbage) + 1)]
    time.sleep(0.5)
    records = stored(store, "p-a")
    assert len(records) == len(expected), "each valid stride exactly once"
    assert {r.stride.ic_t for r in records} == expected
    assert stored(store, "p-other") == []
    assert [(r.device, r.state) for r in store.latest_status("p-a")] == [("dorsi-aa01", "offline")]
    reasons = sorted(letter["reason"] for letter in letters)
    assert len(letters) == len(garbage) + 1
    assert any("stride_time_s: 30.0 is above the maximum 4.0" in r for r in reasons)
    assert any("not JSON" in r for r in reasons)
    assert any("dorsi.strides/9" in r for r in reasons)
    assert any("above the maximum 262144" in r for r in reasons)
    assert any("does not match the topic" in r for r in reasons)
    bad = next(m for m in letters if "stride_time_s" in m["reason"])
    assert json.loads(base64.b64decode(bad["payload_b64"]))["ic_t"] == bad_stride["ic_t"]
    assert worker.metrics.rejected == len(garbage) + 1
    assert worker.metrics.messages_acked == worker.metrics.messages_received
    metrics = worker.metrics.render()
    assert f"dorsi_rejected_total {len(garbage) + 1}" in metrics
    pub.close()
    dead.close()


def test_retained_status_is_read_at_start(
    mosquitto: MosquittoBroker, store: InfluxStore, start_worker: Callable[[str], IngestWorker]
) -> None:
    """A gateway's retained status published before the worker started is stored."""
    status = {
        "schema": "dorsi.status/1",
        "patient": "p-g",
        "device": "dorsi-gg01",
        "state": "online",
        "link": "searching",
        "t": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    pub = Client(mosquitto.port)
    pub.client.publish(
        "dorsi/v1/p-g/dorsi-gg01/status", json.dumps(status).encode(), qos=1, retain=True
    ).wait_for_publish(10)
    start_worker("ingest-a")
    deadline = time.monotonic() + 10
    while not store.latest_status("p-g") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(r.state, r.link) for r in store.latest_status("p-g")] == [("online", "searching")]
    pub.close()


@pytest.mark.parametrize("subscription", ["partitioned", "shared"])
def test_two_workers_split_the_load(
    subscription: str,
    mosquitto: MosquittoBroker,
    store: InfluxStore,
    start_worker: Callable[..., IngestWorker],
) -> None:
    a = start_worker("ingest-a", subscription=subscription, worker_index=0, worker_count=2)
    b = start_worker("ingest-b", subscription=subscription, worker_index=1, worker_count=2)
    pub = Client(mosquitto.port)
    patients = [f"p-b{i}" for i in range(8)]
    for patient in patients:
        for _, payload in stream(patient, "dorsi-b000", 25, 20):
            pub.publish(f"dorsi/v1/{patient}/dorsi-b000/strides", payload)
    for patient in patients:
        wait_stored(store, patient, 500)
    time.sleep(0.5)
    for patient in patients:
        records = stored(store, patient)
        assert len(records) == 500
        assert len({(r.device, r.ic_us) for r in records}) == 500
    assert a.metrics.messages_received > 0
    assert b.metrics.messages_received > 0
    assert a.metrics.messages_received + b.metrics.messages_received == 200
    if subscription == "partitioned":  # each saw everything and kept its own patients' messages
        owned_by_a = sum(owner_of(f"dorsi/v1/{p}/dorsi-b000/strides", 2) == 0 for p in patients)
        assert a.metrics.messages_received == 25 * owned_by_a
        assert a.metrics.not_owned + b.metrics.not_owned == 200
    else:
        assert a.metrics.not_owned == b.metrics.not_owned == 0
    pub.close()


@pytest.mark.parametrize("subscription", ["partitioned", "shared"])
def test_broker_restart_while_workers_are_down_loses_nothing(
    subscription: str,
    mosquitto: MosquittoBroker,
    store: InfluxStore,
    start_worker: Callable[..., IngestWorker],
) -> None:
    """Messages for workers that are offline across a broker restart, published before and
    after it, are stored once the workers are back. Mosquitto 2.0.11 does not restore shared
    subscriptions until their worker subscribes again and answers PUBACK "no matching
    subscribers" meanwhile: the gateway keeps such messages and retries (test_mqtt_publish)."""
    patients = [f"p-r{i}" for i in range(6)]
    assert {owner_of(f"dorsi/v1/{p}/dorsi-r000/strides", 2) for p in patients} == {0, 1}
    mqtt_opts: dict[str, Any] = {"subscription": subscription, "worker_count": 2}
    workers = [start_worker(f"ingest-r{i}", worker_index=i, **mqtt_opts) for i in range(2)]
    msgs = {p: stream(p, "dorsi-r000", 30, 10) for p in patients}
    pub = Client(mosquitto.port)
    reasons: list[int] = []

    def send(lo: int, hi: int) -> None:
        for p in patients:
            for _, payload in msgs[p][lo:hi]:
                reasons.append(pub.publish(f"dorsi/v1/{p}/dorsi-r000/strides", payload))

    send(0, 10)
    for p in patients:
        wait_stored(store, p, 100)
    for worker in workers:
        worker.stop()  # offline; their persistent sessions stay on the broker
    send(10, 20)
    mosquitto.restart()
    pub.close()
    pub = Client(mosquitto.port)
    send(20, 30)
    time.sleep(0.3)
    for i in range(2):
        start_worker(f"ingest-r{i}", worker_index=i, **mqtt_opts)
    expected = {p: sorted(to_us(s["ic_t"]) for c, _ in msgs[p] for s in c) for p in patients}
    if subscription == "shared":  # the broker said where those went: nowhere
        assert NO_MATCHING_SUBSCRIBERS in reasons[120:]
        return
    assert set(reasons) == {0}
    for p in patients:
        wait_stored(store, p, 300)
    time.sleep(0.5)
    got = {p: sorted(r.ic_us for r in stored(store, p)) for p in patients}
    pub.close()
    assert got == expected


def test_writes_and_acks_never_wait_for_rollups(
    mosquitto: MosquittoBroker,
    store: InfluxStore,
    start_worker: Callable[..., IngestWorker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a rollup write hangs (a slow store), strides keep being stored and acknowledged;
    once it returns, the rollups catch up with every stride."""
    release = threading.Event()
    hanging = threading.Event()
    write_rollups = store.write_rollups

    def slow_write_rollups(rollups: Sequence[Any]) -> None:
        hanging.set()
        release.wait(60)
        write_rollups(rollups)

    monkeypatch.setattr(store, "write_rollups", slow_write_rollups)
    worker = start_worker("ingest-slow-rollups")
    pub = Client(mosquitto.port)
    msgs = stream("p-slow", "dorsi-sl01", 20, 10)
    for _, payload in msgs[:10]:
        pub.publish("dorsi/v1/p-slow/dorsi-sl01/strides", payload)
    assert len(wait_stored(store, "p-slow", 100)) == 100
    assert hanging.wait(10), "the rollup refresh started"
    began = time.monotonic()
    for _, payload in msgs[10:]:
        pub.publish("dorsi/v1/p-slow/dorsi-sl01/strides", payload)
    assert len(wait_stored(store, "p-slow", 200, timeout_s=10)) == 200
    deadline = time.monotonic() + 10
    while worker.metrics.messages_acked < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.metrics.messages_acked == 20
    assert time.monotonic() - began < 10
    assert store.query_rollups("p-slow", START.date(), FAR_FUTURE.date()) == []
    release.set()
    deadline = time.monotonic() + 10
    counts: list[int] = []
    while sum(counts) < 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        counts = [r.strides for r in store.query_rollups("p-slow", START.date(), FAR_FUTURE.date())]
    assert sum(counts) == 200
    pub.close()


def test_a_started_worker_rewrites_rollups_a_killed_one_left_behind(
    store: InfluxStore, start_worker: Callable[..., IngestWorker]
) -> None:
    """Strides written today without their rollups (the worker was killed before its refresh)
    get their rollups from the next worker that starts, with no new traffic for them."""
    today = datetime.now(UTC).replace(hour=0, minute=1, second=0, microsecond=0)
    strides = synthetic_strides(150, start=today, seed=5)
    store.write_strides(
        [
            StrideRecord("p-kill", "dorsi-kl01", "left", "gw", "test", Stride.model_validate(s))
            for s in strides
        ]
    )
    assert store.query_rollups("p-kill", today.date(), today.date()) == []
    start_worker("ingest-after-kill")
    deadline = time.monotonic() + 15
    counts: list[int] = []
    while not counts and time.monotonic() < deadline:
        time.sleep(0.2)
        counts = [r.strides for r in store.query_rollups("p-kill", today.date(), today.date())]
    assert counts == [150]


def test_store_outage_loses_nothing(
    mosquitto: MosquittoBroker,
    influxd: InfluxServer,
    store: InfluxStore,
    start_worker: Callable[[str], IngestWorker],
) -> None:
    worker = start_worker("ingest-a")
    pub = Client(mosquitto.port)
    good = stream("p-c", "dorsi-cc01", 60, 25)
    topic = "dorsi/v1/p-c/dorsi-cc01/strides"
    for _, payload in good[:20]:
        pub.publish(topic, payload)
    wait_stored(store, "p-c", 500)
    influxd.stop()
    try:
        for _, payload in good[20:]:
            pub.publish(topic, payload)
        time.sleep(3.0)
        assert worker.metrics.store_retries > 0
        assert worker.metrics.messages_acked <= 20, "nothing acknowledged while the store is down"
    finally:
        influxd.start()
    wait_stored(store, "p-c", 1500)
    time.sleep(0.5)
    assert len(stored(store, "p-c")) == 1500
    assert worker.metrics.messages_acked == 60
    pub.close()


def _worker_process(
    mosquitto: MosquittoBroker, config: InfluxConfig, tmp: Path
) -> subprocess.Popen[bytes]:
    log = tmp / "worker.log"
    return start_ingest(
        mosquitto.port, config, "ingest-proc", log, DORSI_MQTT__RECEIVE_MAXIMUM="50"
    )


def test_worker_killed_and_restarted_loses_nothing(
    mosquitto: MosquittoBroker, store: InfluxStore, influx_config: InfluxConfig, tmp_path: Path
) -> None:
    proc = _worker_process(mosquitto, influx_config, tmp_path)
    pub = Client(mosquitto.port)
    good = stream("p-d", "dorsi-dd01", 100, 20)
    topic = "dorsi/v1/p-d/dorsi-dd01/strides"
    try:
        deadline = time.monotonic() + 20
        while not stored(store, "p-d") and time.monotonic() < deadline:
            pub.publish(topic, good[0][1])  # first message until the worker has subscribed
            time.sleep(0.2)
        for _, payload in good[1:50]:
            pub.publish(topic, payload)
        while len(stored(store, "p-d")) < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.kill()  # mid-stream, typically with messages in flight and unacknowledged
        proc.wait(10)
        for _, payload in good[50:]:  # queued for the dead worker's session meanwhile
            pub.publish(topic, payload)
        partial = len(stored(store, "p-d"))
        proc = _worker_process(mosquitto, influx_config, tmp_path)
        records = wait_stored(store, "p-d", 2000)
        time.sleep(0.5)
        records = stored(store, "p-d")
    finally:
        proc.terminate()
        proc.wait(10)
        pub.close()
    assert partial < 2000, "the kill happened mid-stream"
    assert len(records) == 2000
    assert sorted(r.ic_us for r in records) == sorted(
        to_us(s["ic_t"]) for chunk, _ in good for s in chunk
    )
    log = (tmp_path / "worker.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def test_store_refusal_dead_letters_only_the_refused_stride(
    mosquitto: MosquittoBroker,
    influxd: InfluxServer,
    store: InfluxStore,
    start_worker: Callable[[str], IngestWorker],
) -> None:
    """influxd refuses one stride (HTTP 400 field type conflict in its shard): it is
    dead-lettered alone, with its index, and its siblings in the same message are stored."""
    good = stream("p-e", "dorsi-ee01", 1, 4)[0][0]
    old = synthetic_strides(1, start=START - timedelta(days=30), seed=5)[0]  # another shard
    conflict = f'stride,device=x,patient=x,side=left quality="text" {to_us(old["ic_t"]) - 1}\n'
    response = httpx.post(
        f"{influxd.url}/write",
        params={"db": store.config.database, "precision": "u"},
        content=conflict.encode(),
        auth=(influxd.username, influxd.password),
    )
    assert response.status_code == 204
    worker = start_worker("ingest-a")
    dead = Client(mosquitto.port, subscribe="dorsi/v1/deadletter")
    pub = Client(mosquitto.port)
    batch = [*good[:2], old, *good[2:]]
    pub.publish(
        "dorsi/v1/p-e/dorsi-ee01/strides", strides_payload("p-e", "dorsi-ee01", "left", batch)
    )
    letters = [json.loads(m) for m in dead.wait_for(1)]
    assert letters[0]["reason"].startswith("strides[2]: store refused the write: ")
    assert "field type conflict" in letters[0]["reason"]
    refused = json.loads(base64.b64decode(letters[0]["payload_b64"]))
    assert (refused["ic_t"], refused["quality"]) == (old["ic_t"], old["quality"])
    deadline = time.monotonic() + 10
    while worker.metrics.messages_acked < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert worker.metrics.messages_acked == 1
    assert (worker.metrics.store_refused, worker.metrics.rejected) == (1, 1)
    assert len(dead.received) == 1
    assert sorted(r.stride.ic_t for r in stored(store, "p-e")) == [s["ic_t"] for s in good]
    pub.close()
    dead.close()


class FlakyStore(InfluxStore):
    """The real store, but its first ``failures`` stride writes raise an unexpected error."""

    def __init__(self, config: InfluxConfig, failures: int) -> None:
        super().__init__(config)
        self.failures = failures

    def write_strides(self, records: Sequence[StrideRecord]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("a bug in the store")
        super().write_strides(records)


def test_unexpected_error_is_retried_not_dropped(
    mosquitto: MosquittoBroker, influx_config: InfluxConfig
) -> None:
    """A bug raising in commit keeps the batch unacknowledged and retries it (backoff)."""
    flaky = FlakyStore(influx_config, failures=2)
    flaky.bootstrap()
    config = MqttConfig(port=mosquitto.port, client_id="ingest-flaky", receive_maximum=50)
    worker = IngestWorker(flaky, config, options=IngestOptions(linger_s=0.01))
    worker.start()
    pub = Client(mosquitto.port)
    try:
        assert worker.wait_connected(10)
        time.sleep(0.2)
        chunk, payload = stream("p-k", "dorsi-kk01", 1, 10)[0]
        pub.publish("dorsi/v1/p-k/dorsi-kk01/strides", payload)
        records = wait_stored(flaky, "p-k", 10)
        assert sorted(r.stride.ic_t for r in records) == [s["ic_t"] for s in chunk]
        deadline = time.monotonic() + 10
        while worker.metrics.messages_acked < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.metrics.internal_errors == 2
        assert worker.metrics.messages_acked == 1
        assert worker.metrics.rejected == 0
    finally:
        worker.stop()
        pub.close()
        flaky.close()


def test_dead_letters_respect_the_brokers_receive_maximum(
    mosquitto: MosquittoBroker, store: InfluxStore
) -> None:
    """A broker announcing Receive Maximum 5 gets at most 5 dead letters in flight; all arrive."""
    mosquitto.config.write_text(
        mosquitto.config.read_text().replace("max_inflight_messages 0", "max_inflight_messages 5")
    )
    mosquitto.restart()
    config = MqttConfig(port=mosquitto.port, client_id="ingest-small-window")
    worker = IngestWorker(store, config, options=IngestOptions(linger_s=0.05))
    worker.start()
    dead = Client(mosquitto.port, subscribe="dorsi/v1/deadletter")
    pub = Client(mosquitto.port)
    try:
        assert worker.wait_connected(10)
        time.sleep(0.2)
        assert worker._deadletter_window == 5
        batch = synthetic_strides(40, start=START, seed=11)
        for stride in batch:
            stride["quality"] = 2.0
        pub.publish(
            "dorsi/v1/p-l/dorsi-ll01/strides", strides_payload("p-l", "dorsi-ll01", "left", batch)
        )
        letters = [json.loads(m) for m in dead.wait_for(40)]
        time.sleep(0.3)
        assert sorted(letter["reason"] for letter in letters) == sorted(
            f"strides[{i}].quality: 2.0 is above the maximum 1.0" for i in range(40)
        )
        assert len(dead.received) == 40
        assert worker.metrics.rejected == 40
        assert worker.metrics.messages_acked == 1
    finally:
        worker.stop()
        pub.close()
        dead.close()


def test_dead_letters_nobody_reads_are_reported(
    mosquitto: MosquittoBroker,
    store: InfluxStore,
    start_worker: Callable[[str], IngestWorker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without a dead-letter subscriber the broker drops them (PUBACK 0x10): counted, warned."""
    worker = start_worker("ingest-a")
    pub = Client(mosquitto.port)
    pub.publish("dorsi/v1/p-m/dorsi-mm01/strides", b"{not json")
    pub.publish("dorsi/v1/p-m/dorsi-mm01/strides", b"[]")
    deadline = time.monotonic() + 10
    while worker.metrics.messages_acked < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.metrics.messages_acked == 2
    assert worker.metrics.deadletters_unsubscribed == 2
    assert "dorsi_deadletters_unsubscribed_total 2" in worker.metrics.render()
    warnings = [r.getMessage() for r in caplog.records if "nobody subscribes" in r.getMessage()]
    assert len(warnings) == 1, "warned once"
    pub.close()


def test_memory_bounded_by_receive_maximum_while_store_down(
    mosquitto: MosquittoBroker, store: InfluxStore
) -> None:
    """With the store down, the broker hands the worker at most Receive Maximum messages."""
    from tests.conftest import free_port

    dead_store = InfluxStore(
        InfluxConfig(url=f"http://127.0.0.1:{free_port()}", database="x", retry_for_s=0.2)
    )
    config = MqttConfig(port=mosquitto.port, client_id="ingest-bounded", receive_maximum=5)
    worker = IngestWorker(dead_store, config, options=IngestOptions(linger_s=0.01))
    worker.start()
    assert worker.wait_connected(10)
    time.sleep(0.2)
    pub = Client(mosquitto.port)
    messages = stream("p-f", "dorsi-ff01", 40, 10)
    for _, payload in messages:
        pub.publish("dorsi/v1/p-f/dorsi-ff01/strides", payload)
    time.sleep(2.0)
    assert worker.metrics.messages_acked == 0
    assert 1 <= worker.metrics.messages_received <= 5
    worker.stop()
    dead_store.close()
    # the same session with a working store gets everything
    worker = IngestWorker(store, config, options=IngestOptions(linger_s=0.01))
    worker.start()
    try:
        assert len(wait_stored(store, "p-f", 400)) == 400
    finally:
        worker.stop()
        pub.close()
