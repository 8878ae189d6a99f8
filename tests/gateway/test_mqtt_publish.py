"""Outbox → real Mosquitto: in order, batched, nothing lost across broker and gateway restarts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dorsi.gateway.mqtt_link import BrokerConfig, OutboxPublisher
from dorsi.gateway.outbox import Outbox, OutboxMessage

pytestmark = pytest.mark.services


def _stride_batcher(messages: list[OutboxMessage]) -> bytes:
    return json.dumps({"strides": [json.loads(m.payload) for m in messages]}).encode()


def _received_ids(payloads: list[bytes]) -> list[int]:
    ids: list[int] = []
    for payload in payloads:
        ids.extend(s["n"] for s in json.loads(payload)["strides"])
    return ids


@pytest.fixture
def topic() -> str:
    return f"dorsi-test/{uuid.uuid4().hex[:8]}/strides"


@pytest.fixture
def publisher_factory(tmp_path: Path) -> Iterator[Callable[[int, Outbox], OutboxPublisher]]:
    made: list[OutboxPublisher] = []

    def make(port: int, outbox: Outbox) -> OutboxPublisher:
        config = BrokerConfig(url=f"mqtt://127.0.0.1:{port}", client_id="gw-test-1")
        pub = OutboxPublisher(outbox, config, batchers={"stride": _stride_batcher}, max_batch=20)
        made.append(pub)
        pub.start()
        return pub

    yield make
    for pub in made:
        pub.stop()


def _fill(outbox: Outbox, topic: str, start: int, count: int) -> None:
    for n in range(start, start + count):
        outbox.put(topic, json.dumps({"n": n}).encode(), kind="stride")


def test_publishes_everything_in_order_in_batches(
    mosquitto, publisher_factory, subscribe, tmp_path, topic
):
    sub = subscribe(mosquitto.port, topic)
    outbox = Outbox(tmp_path / "outbox.db")
    _fill(outbox, topic, 0, 1000)
    pub = publisher_factory(mosquitto.port, outbox)
    sub.wait_for(lambda m: len(_received_ids([x for _, x in m])) >= 1000)
    assert _received_ids(sub.payloads) == list(range(1000))
    assert max(pub.stats.batch_sizes) == 20
    deadline = time.monotonic() + 5
    while len(outbox) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(outbox) == 0, "acknowledged messages leave the outbox"


def test_broker_restart_mid_stream_loses_nothing(
    mosquitto, publisher_factory, subscribe, tmp_path, topic
):
    sub = subscribe(mosquitto.port, topic)
    outbox = Outbox(tmp_path / "outbox.db")
    pub = publisher_factory(mosquitto.port, outbox)
    _fill(outbox, topic, 0, 300)
    pub.wake()
    sub.wait_for(lambda m: len(m) >= 1)
    mosquitto.restart()  # graceful: the broker keeps its persistent sessions
    _fill(outbox, topic, 300, 300)  # produced while the broker was away
    pub.wake()
    sub.wait_for(lambda m: set(_received_ids([x for _, x in m])) >= set(range(600)), timeout_s=30)
    received = _received_ids(sub.payloads)
    assert sorted(set(received)) == list(range(600))
    assert pub.stats.connects >= 2


def test_gateway_restart_resumes_from_the_outbox(
    mosquitto, publisher_factory, subscribe, tmp_path, topic
):
    sub = subscribe(mosquitto.port, topic)
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    _fill(outbox, topic, 0, 2000)
    first = publisher_factory(mosquitto.port, outbox)
    sub.wait_for(lambda m: len(m) >= 5)
    first.stop()  # the gateway goes away mid-drain
    outbox.close()
    left = Outbox(path)
    publisher_factory(mosquitto.port, left)
    sub.wait_for(lambda m: set(_received_ids([x for _, x in m])) >= set(range(2000)), timeout_s=30)
    assert sorted(set(_received_ids(sub.payloads))) == list(range(2000))


def test_broker_down_at_start_then_up(mosquitto, publisher_factory, subscribe, tmp_path, topic):
    sub = subscribe(mosquitto.port, topic)  # its persistent session outlives the broker stop
    mosquitto.stop()
    outbox = Outbox(tmp_path / "outbox.db")
    _fill(outbox, topic, 0, 50)
    pub = publisher_factory(mosquitto.port, outbox)
    time.sleep(1.0)
    assert not pub.connected
    assert len(outbox) == 50, "nothing leaves the outbox without a broker"
    mosquitto.start()
    sub.wait_for(lambda m: set(_received_ids([x for _, x in m])) >= set(range(50)), timeout_s=30)


def test_bad_broker_url_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="mqtt://host:1883"):
        BrokerConfig(url="http://example", client_id="x")
    with pytest.raises(ValueError, match="client_id"):
        BrokerConfig(url="mqtt://127.0.0.1", client_id="")


def test_messages_nobody_subscribed_to_stay_and_are_sent_again(
    mosquitto, publisher_factory, subscribe, tmp_path, topic
):
    """PUBACK "no matching subscribers" (MQTT 5) is not a delivery: nothing leaves the outbox
    until a subscriber exists, then everything arrives (Mosquitto after a restart, before the
    server's shared subscription is back, answers exactly this)."""
    outbox = Outbox(tmp_path / "outbox.db")
    _fill(outbox, topic, 0, 100)
    pub = publisher_factory(mosquitto.port, outbox)
    deadline = time.monotonic() + 10
    while pub.stats.no_subscriber < 100 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pub.stats.no_subscriber >= 100
    assert len(outbox) == 100, "dropped by the broker, so kept"
    sub = subscribe(mosquitto.port, topic)
    _fill(outbox, topic, 100, 50)
    pub.wake()
    sub.wait_for(lambda m: set(_received_ids([x for _, x in m])) >= set(range(150)), timeout_s=30)
    deadline = time.monotonic() + 10
    while len(outbox) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(outbox) == 0
    assert sorted(set(_received_ids(sub.payloads))) == list(range(150))
