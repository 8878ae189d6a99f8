"""The gateway's MQTT link over TLS with username/password, against a real Mosquitto."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from dorsi.gateway.mqtt_link import BrokerConfig, OutboxPublisher
from dorsi.gateway.outbox import Outbox
from tests.conftest import free_port, require_tool, wait_for_port
from tests.tls_pki import write_tls_files

pytestmark = pytest.mark.services


@pytest.fixture
def tls_broker():  # type: ignore[no-untyped-def]
    """Mosquitto with only a TLS listener and a password file; yields (port, ca, other_ca)."""
    # Not pytest's tmp_path: its parents are private to root, and mosquitto drops to its user.
    with tempfile.TemporaryDirectory(prefix="dorsi-tls-") as tmp:
        yield from _tls_broker(Path(tmp))


def _tls_broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    binary = require_tool("mosquitto")
    passwd_tool = require_tool("mosquitto_passwd")
    tls_files = write_tls_files(tmp_path)
    passwd = tmp_path / "passwd"
    subprocess.run([passwd_tool, "-b", "-c", str(passwd), "dorsi-0001", "s3cret"], check=True)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        + tls_files.listener_options
        + f"allow_anonymous false\npassword_file {passwd}\n"
    )
    if os.geteuid() == 0:
        for path in [tmp_path, *tmp_path.iterdir()]:
            shutil.chown(path, user="mosquitto")
    process = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    try:
        try:
            wait_for_port(port)
        except TimeoutError:
            process.kill()
            _, err = process.communicate(timeout=5)
            raise RuntimeError(f"mosquitto (TLS) did not start: {err[-2000:]}") from None
        yield port, tls_files.ca, tls_files.other_ca
    finally:
        process.kill()
        process.wait(timeout=10)


def _publish(port: int, ca: Path, password: str, tmp_path: Path) -> tuple[OutboxPublisher, Outbox]:
    outbox = Outbox(tmp_path / f"outbox-{time.monotonic_ns()}.db")
    outbox.put("dorsi/v1/p-1/dorsi-0001/strides", json.dumps({"n": 1}).encode())
    config = BrokerConfig(
        url=f"mqtts://127.0.0.1:{port}",
        client_id=f"dorsi-tls-{time.monotonic_ns()}",
        username="dorsi-0001",
        password=password,
        ca_file=str(ca),
    )
    publisher = OutboxPublisher(outbox, config)
    publisher.start()
    return publisher, outbox


def _wait_empty(outbox: Outbox, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(outbox) == 0:
            return True
        time.sleep(0.05)
    return False


def _tls_subscriber(port: int, ca: Path, received: list[bytes]) -> mqtt.Client:
    """A reader over the same TLS listener (a broker with no subscriber answers PUBACK 0x10,
    which the gateway rightly does not count as delivered)."""
    ready = threading.Event()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"reader-{time.monotonic_ns()}",
        protocol=mqtt.MQTTv5,
    )
    client.tls_set_context(ssl.create_default_context(cafile=str(ca)))
    client.username_pw_set("dorsi-0001", "s3cret")
    client.on_connect = lambda c, *_: c.subscribe("dorsi/v1/#", qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda c, u, msg: received.append(bytes(msg.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert ready.wait(10), "the TLS reader could not subscribe"
    return client


def test_tls_with_password_delivers(tls_broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port, ca, _ = tls_broker
    received: list[bytes] = []
    reader = _tls_subscriber(port, ca, received)
    publisher, outbox = _publish(port, ca, "s3cret", tmp_path)
    try:
        assert _wait_empty(outbox, 15), "the message was acknowledged over TLS"
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [json.loads(m) for m in received] == [{"n": 1}]
    finally:
        publisher.stop()
        reader.loop_stop()
        reader.disconnect()


@pytest.mark.parametrize("case", ["wrong CA", "wrong password"])
def test_untrusted_server_or_bad_password_delivers_nothing(  # type: ignore[no-untyped-def]
    tls_broker, tmp_path: Path, case: str
) -> None:
    port, ca, other_ca = tls_broker
    if case == "wrong CA":
        publisher, outbox = _publish(port, other_ca, "s3cret", tmp_path)
    else:
        publisher, outbox = _publish(port, ca, "wrong", tmp_path)
    try:
        assert not _wait_empty(outbox, 3)
        assert not publisher.connected
        assert len(outbox) == 1, "nothing is lost: the message waits for a broker it can trust"
    finally:
        publisher.stop()
