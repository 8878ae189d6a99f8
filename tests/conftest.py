"""Shared fixtures: real services started on free loopback ports, and the real recording."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parents[1]
GAITMAP_EXAMPLE = ROOT.parent / "shared" / "data" / "gaitmap_example"


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """A CLI run in-process calls ``logging.basicConfig`` on pytest's captured stderr, which is
    closed after the test; undo it, so later records (from any thread) never hit that stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler and handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def require_tool(name: str) -> str:
    """Path of a system tool; skip locally, fail under CI (where the test command installs it)."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        message = f"{name} is not installed (scripts/bootstrap.sh installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


class MosquittoBroker:
    """A real Mosquitto on a free 127.0.0.1 port with persistence, restartable by tests."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_tool("mosquitto")
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n"
            "log_type error\nlog_type warning\n"
            f"log_dest file {workdir}/mosquitto.log\n"
        )
        if os.geteuid() == 0:  # mosquitto drops privileges to its own user
            shutil.chown(workdir, user="mosquitto")
            shutil.chown(self.config, user="mosquitto")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            log = (self.workdir / "mosquitto.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mosquitto did not start: {log}") from None

    def stop(self) -> None:
        """Graceful stop (SIGTERM): the broker saves its persistent state."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """Abrupt stop (SIGKILL): only state autosaved before now survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def mosquitto() -> Iterator[MosquittoBroker]:
    """A fresh broker per test (tests restart and kill it)."""
    with tempfile.TemporaryDirectory(prefix="dorsi-mosquitto-") as tmp:
        broker = MosquittoBroker(Path(tmp))
        broker.start()
        try:
            yield broker
        finally:
            broker.kill()


@pytest.fixture(scope="session")
def gaitmap_example() -> Path:
    """The real foot-IMU recording with mocap reference (see its README)."""
    if not (GAITMAP_EXAMPLE / "imu_sample.csv").is_file():
        message = f"real recording missing at {GAITMAP_EXAMPLE}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return GAITMAP_EXAMPLE


class Subscriber:
    """A persistent-session QoS 1 MQTT subscriber that records (topic, payload) of every message."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        self.wait_for(lambda _m: self.client.is_connected(), timeout_s=10)

    @property
    def payloads(self) -> list[bytes]:
        with self._lock:
            return [payload for _, payload in self.messages]

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def wait_for(
        self, predicate: Callable[[list[tuple[str, bytes]]], bool], timeout_s: float = 20.0
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.messages)
            if predicate(snapshot):
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s} s; received {len(self.messages)}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribe() -> Iterator[Callable[[int, str], Subscriber]]:
    """Factory: ``subscribe(port, topic_filter)`` → a connected :class:`Subscriber`."""
    made: list[Subscriber] = []

    def make(port: int, topic: str) -> Subscriber:
        sub = Subscriber(port, topic)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()
