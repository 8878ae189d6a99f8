"""Mosquitto boundaries with the passwd/acl files `dorsi-server mqtt-acl` writes, on a real broker:
a device may publish only to its own topics and read nothing, anonymous and wrongly-authenticated
clients are refused, and the same files work over TLS with a test CA."""

from __future__ import annotations

import io
import os
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from dorsi.server.cli import main
from dorsi.server.settings import DEFAULT_SHARE_GROUP, Settings
from tests.conftest import MosquittoBroker
from tests.tls_pki import write_tls_files

pytestmark = pytest.mark.services
DEPLOYED_CONF = Path(__file__).resolve().parents[2] / "server" / "deploy" / "mosquitto.conf"
SERVER_PASSWORD = "server password 123"
SECRET_KEY = "mqtt-acl-tests-secret-key-0123456789abcdef"
SHARE_GROUP = Settings(secret_key=SECRET_KEY).mqtt.share_group
SHARED = f"$share/{SHARE_GROUP}/dorsi/v1/+/+/+"


class Collector:
    """An MQTT 5 client that records what it receives, its SUBACK codes and a refused CONNECT."""

    def __init__(
        self,
        port: int,
        user: str | None,
        password: str | None,
        topics: tuple[str, ...] = (),
        *,
        ca_file: Path | None = None,
        client_id: str | None = None,
    ) -> None:
        self.received: list[str] = []
        self.disconnects: list[str] = []
        self.suback: list[int] = []
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"c-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))

        def on_connect(c: mqtt.Client, u: object, f: object, reason: object, p: object) -> None:
            if getattr(reason, "is_failure", False):
                self.refused.set()
                return
            if topics:
                c.subscribe([(t, 1) for t in topics])
            else:
                self.subscribed.set()
            self.connected.set()

        def on_subscribe(
            c: mqtt.Client, u: object, mid: int, codes: list[ReasonCode], p: Properties
        ) -> None:
            self.suback = [code.value for code in codes]
            self.subscribed.set()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        self.client.on_disconnect = lambda c, u, f, reason, p: self.disconnects.append(str(reason))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def ready(self) -> bool:
        return self.connected.wait(10) and self.subscribed.wait(10)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class SecuredBroker:
    """A real Mosquitto running on the generated passwd + acl; ``ca_file`` when TLS only."""

    broker: MosquittoBroker
    secrets: dict[str, str]
    ca_file: Path | None
    other_ca_file: Path | None

    @property
    def port(self) -> int:
        return self.broker.port

    def client(self, user: str | None, password: str | None, *topics: str) -> Collector:
        return Collector(self.port, user, password, topics, ca_file=self.ca_file)

    def server(self) -> Collector:
        return self.client("dorsi-server", SERVER_PASSWORD, SHARED)


@pytest.fixture
def secured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[bool], SecuredBroker]]:
    """Factory: ``secured(tls)`` pairs two devices with two patients, writes passwd + acl with
    `dorsi-server mqtt-acl` and starts Mosquitto on them (anonymous access off)."""
    monkeypatch.setenv("DORSI_REGISTRY_PATH", str(tmp_path / "registry.sqlite"))
    monkeypatch.setenv("DORSI_STORE__SQLITE_PATH", str(tmp_path / "data.sqlite"))
    monkeypatch.setenv("SERVER_PW", SERVER_PASSWORD)
    monkeypatch.setenv("DORSI_SECRET_KEY", SECRET_KEY)
    started: list[tuple[MosquittoBroker, Path]] = []

    def start(tls: bool) -> SecuredBroker:
        secrets: dict[str, str] = {}
        assert main(["add-patient", "p-1", "--name", "Ann", "--side", "left"]) == 0
        assert main(["add-patient", "p-2", "--name", "Ben", "--side", "right"]) == 0
        for device, patient in (("dorsi-aa01", "p-1"), ("dorsi-bb02", "p-2")):
            out = io.StringIO()
            with redirect_stdout(out):
                assert main(["pair-device", device, patient, "--side", "left"]) == 0
            secrets[device] = out.getvalue().split("give it to the gateway): ")[1].split()[0]
        acl_dir = tmp_path / "mqtt"
        assert main(["mqtt-acl", "--out", str(acl_dir), "--password-env", "SERVER_PW"]) == 0
        assert oct((acl_dir / "passwd").stat().st_mode & 0o777) == "0o600"
        broker_dir = Path(tempfile.mkdtemp(prefix="dorsi-acl-broker-"))  # mosquitto can read it
        broker = MosquittoBroker(broker_dir)
        for name in ("passwd", "acl"):
            shutil.copy(acl_dir / name, broker_dir / name)
        config = broker.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
        config += f"password_file {broker_dir}/passwd\nacl_file {broker_dir}/acl\n"
        config += "".join(  # the deployed broker's client-id rule
            f"{line}\n"
            for line in DEPLOYED_CONF.read_text().splitlines()
            if line.startswith("use_username_as_clientid")
        )
        ca_file = other_ca = None
        if tls:
            listener, rest = config.split("\n", 1)
            tls_files = write_tls_files(broker_dir)
            ca_file, other_ca = tls_files.ca, tls_files.other_ca
            config = f"{listener}\n{tls_files.listener_options}{rest}"
        broker.config.write_text(config)
        if os.geteuid() == 0:
            for path in broker_dir.iterdir():
                shutil.chown(path, user="mosquitto")
        broker.start()
        started.append((broker, broker_dir))
        return SecuredBroker(broker, secrets, ca_file, other_ca)

    yield start
    for broker, directory in started:
        broker.kill()
        shutil.rmtree(directory, ignore_errors=True)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_device_cannot_publish_to_another_devices_topic(
    secured: Callable[[bool], SecuredBroker],
) -> None:
    broker = secured(False)
    server = broker.server()
    device = broker.client("dorsi-aa01", broker.secrets["dorsi-aa01"])
    try:
        assert server.ready()
        assert device.ready()
        device.publish("dorsi/v1/p-2/dorsi-bb02/strides", b"forged")
        device.publish("dorsi/v1/p-2/dorsi-aa01/strides", b"wrong patient")
        device.publish("dorsi/v1/deadletter", b"fake dead letter")
        device.publish("dorsi/v1/p-1/dorsi-aa01/strides", b"own")
        wait_until(lambda: bool(server.received))
        time.sleep(0.3)
        assert server.received == ["dorsi/v1/p-1/dorsi-aa01/strides"]
    finally:
        server.close()
        device.close()


def test_device_cannot_subscribe_to_other_topics(
    secured: Callable[[bool], SecuredBroker],
) -> None:
    broker = secured(False)
    other = broker.client("dorsi-bb02", broker.secrets["dorsi-bb02"])
    assert other.ready()
    other.publish("dorsi/v1/p-2/dorsi-bb02/status", b'{"retained": true}', retain=True)
    filters = (
        "dorsi/v1/p-2/dorsi-bb02/strides",
        "dorsi/v1/p-2/#",
        "dorsi/v1/#",
        "#",
        f"$share/{DEFAULT_SHARE_GROUP}/dorsi/v1/+/+/+",
        "dorsi/v1/deadletter",
        "dorsi/v1/p-1/dorsi-aa01/strides",  # its own: devices only write
    )
    spy = broker.client("dorsi-aa01", broker.secrets["dorsi-aa01"], *filters)
    server = broker.server()
    try:
        assert spy.ready()
        assert server.ready()
        # Mosquitto 2.0 grants the SUBACK and checks read access per message: nothing arrives.
        assert len(spy.suback) == len(filters)
        other.publish("dorsi/v1/p-2/dorsi-bb02/strides", b"private")
        spy.publish("dorsi/v1/p-1/dorsi-aa01/strides", b"own")
        expected = {"dorsi/v1/p-1/dorsi-aa01/strides", "dorsi/v1/p-2/dorsi-bb02/strides"}
        wait_until(lambda: expected <= set(server.received))
        time.sleep(0.3)
        assert expected <= set(server.received)  # delivered, so the spy had its chance
        assert spy.received == []
    finally:
        for client in (other, spy, server):
            client.close()


def test_device_cannot_take_messages_from_the_servers_shared_subscription(
    secured: Callable[[bool], SecuredBroker],
) -> None:
    """Mosquitto hands each message of a shared subscription to one member of the group, even a
    member without read access, which then drops it. The server's group name is derived from
    the secret key, so a device cannot join it; the public default group is harmless."""
    assert SHARE_GROUP != DEFAULT_SHARE_GROUP
    broker = secured(False)
    server = broker.server()
    spy = broker.client(
        "dorsi-aa01",
        broker.secrets["dorsi-aa01"],
        f"$share/{DEFAULT_SHARE_GROUP}/dorsi/v1/+/+/+",
        f"$share/{DEFAULT_SHARE_GROUP}/dorsi/v1/+/+/strides",
    )
    other = broker.client("dorsi-bb02", broker.secrets["dorsi-bb02"])
    try:
        assert server.ready()
        assert spy.ready()
        assert other.ready()
        for i in range(20):
            other.publish("dorsi/v1/p-2/dorsi-bb02/strides", b"%d" % i)
        wait_until(lambda: len(server.received) >= 20)
        assert len(server.received) == 20
        assert spy.received == []
    finally:
        for client in (server, spy, other):
            client.close()


def test_device_cannot_take_over_the_servers_session(
    secured: Callable[[bool], SecuredBroker],
) -> None:
    broker = secured(False)
    server = Collector(
        broker.port, "dorsi-server", SERVER_PASSWORD, (SHARED,), client_id="dorsi-server-1"
    )
    try:
        assert server.ready()
        intruder = Collector(
            broker.port, "dorsi-aa01", broker.secrets["dorsi-aa01"], client_id="dorsi-server-1"
        )
        try:
            assert intruder.connected.wait(5)  # as itself: the broker ignores the id it asked for
            time.sleep(0.5)
            assert server.disconnects == []
            device = broker.client("dorsi-bb02", broker.secrets["dorsi-bb02"])
            assert device.connected.wait(10)
            device.client.publish("dorsi/v1/p-2/dorsi-bb02/strides", b"still read", qos=1)
            wait_until(lambda: len(server.received) >= 1)
            device.close()
        finally:
            intruder.close()
    finally:
        server.close()


def test_anonymous_and_wrong_password_clients_are_refused(
    secured: Callable[[bool], SecuredBroker],
) -> None:
    broker = secured(False)
    server = broker.server()
    attempts = [
        broker.client(None, None, "#"),
        broker.client("dorsi-aa01", "wrong password", "#"),
        broker.client("dorsi-zz99", broker.secrets["dorsi-aa01"], "#"),  # unknown device
        broker.client("dorsi-server", broker.secrets["dorsi-aa01"], "#"),
    ]
    try:
        assert server.ready()
        for attempt in attempts:
            assert attempt.refused.wait(10)
            assert not attempt.connected.is_set()
            attempt.client.publish("dorsi/v1/p-1/dorsi-aa01/strides", b"anonymous", qos=1)
        time.sleep(0.5)
        assert server.received == []
    finally:
        for client in (server, *attempts):
            client.close()


def test_tls_with_a_test_ca_and_the_generated_files(
    secured: Callable[[bool], SecuredBroker],
) -> None:
    broker = secured(True)
    assert broker.ca_file is not None
    assert broker.other_ca_file is not None
    server = broker.server()
    device = broker.client("dorsi-aa01", broker.secrets["dorsi-aa01"])
    try:
        assert server.ready()
        assert device.ready()
        device.publish("dorsi/v1/p-2/dorsi-bb02/strides", b"forged")
        device.publish("dorsi/v1/p-1/dorsi-aa01/strides", b"own, encrypted")
        wait_until(lambda: bool(server.received))
        time.sleep(0.3)
        assert server.received == ["dorsi/v1/p-1/dorsi-aa01/strides"]
    finally:
        server.close()
        device.close()
    with pytest.raises(ssl.SSLCertVerificationError):  # a broker the clinic did not certify
        Collector(
            broker.port, "dorsi-aa01", broker.secrets["dorsi-aa01"], ca_file=broker.other_ca_file
        )
    wrong = broker.client("dorsi-aa01", "wrong password")
    plain = Collector(broker.port, "dorsi-aa01", broker.secrets["dorsi-aa01"])  # no TLS
    try:
        assert wrong.refused.wait(10)
        assert not plain.connected.wait(1.5)
    finally:
        wrong.close()
        plain.close()
