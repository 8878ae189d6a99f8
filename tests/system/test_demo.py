"""The README's first command: ``scripts/demo.sh`` runs the whole chain and stops cleanly.

Runs the real command as a subprocess (a short history, any free HTTP port), waits until the
server answers, logs in with the printed therapist login, waits until a live stride — analysed
by a real gateway from a virtual sensor's walk, sent through the broker and stored by the
server's ingest worker — can be read back through the API, checks the seeded history, then sends
SIGINT and expects a clean exit with every child process gone. A second run on the same state
directory (the embedded amqtt broker, MQTT 3.1.1) starts from the cached seed without clean-up.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ("p-demo-anna", "p-demo-ben", "p-demo-carla")
DAYS = 7


class Demo:
    """``scripts/demo.sh`` as a subprocess whose output is collected line by line."""

    def __init__(self, state: Path, broker: str) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            ["bash", "scripts/demo.sh", "--state-dir", str(state), "--days", str(DAYS),
             "--http-port", "0", "--broker", broker],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r}; output:\n{self.output}")

    def interrupt(self, timeout_s: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        return rc


@contextmanager
def running_demo(state: Path, broker: str) -> Iterator[Demo]:
    demo = Demo(state, broker)
    try:
        yield demo
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()
            demo.proc.wait()


def _request(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _strides(url: str, token: str, patient: str, start: datetime, end: datetime) -> list[Any]:
    query = f"start={_utc(start)}&end={_utc(end)}&limit=50"
    page = _request(f"{url}/api/v1/patients/{patient}/strides?{query}", token)
    strides: list[Any] = page["strides"]
    return strides


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _check_run(demo: Demo, since: datetime) -> tuple[str, int]:
    """Server answers, the login works, history is there and a live stride arrives."""
    url = demo.wait_for_line(r"dashboard: (http://127\.0\.0\.1:\d+)/dashboard/", 120).group(1)
    login = demo.wait_for_line(r"login:\s+(\S+) / (\S+)", 5)
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
        assert response.status == 200
    token = _request(f"{url}/api/v1/auth/login", body={"username": login[1], "password": login[2]})[
        "access_token"
    ]
    patients = {p["id"] for p in _request(f"{url}/api/v1/patients", token)}
    assert patients == set(PATIENTS)

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    history = _strides(url, token, PATIENTS[0], today - timedelta(days=DAYS), today)
    assert history, "no seeded history"
    assert {s["gateway"] for s in history} == {"demo-history"}

    deadline = time.monotonic() + 120
    live: list[Any] = []
    while not live and time.monotonic() < deadline and demo.proc.poll() is None:
        end = datetime.now(UTC) + timedelta(minutes=5)
        for patient in PATIENTS:
            live += [
                s
                for s in _strides(url, token, patient, since, end)
                if s["gateway"] != "demo-history"
            ]
        time.sleep(1.0)
    assert live, f"no live stride arrived; output:\n{demo.output}"
    assert all(s["gateway"].startswith("gw-p-demo-") for s in live)
    return url, int(url.rsplit(":", 1)[1])


def test_demo_runs_the_whole_chain_and_stops_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    since = datetime.now(UTC) - timedelta(seconds=5)
    with running_demo(state, "auto") as demo:
        _url, http_port = _check_run(demo, since)
        server_up_s = float(demo.wait_for_line(r"server up in ([\d.]+) s", 5).group(1))
        assert server_up_s < 60.0
        broker_port = int(demo.wait_for_line(r"on 127\.0\.0\.1:(\d+) \(MQTT", 5).group(1))
        assert demo.interrupt() == 0, demo.output
    assert "== stopped" in demo.output
    assert not _listening(http_port), "the server outlived the demo"
    assert not _listening(broker_port), "the broker outlived the demo"
    assert not (state / "pids.json").exists()

    # a second run: the embedded broker (MQTT 3.1.1 fallbacks), the cached seed, no clean-up
    since = datetime.now(UTC) - timedelta(seconds=5)
    with running_demo(state, "amqtt") as demo:
        _check_run(demo, since)
        assert "using the seeded store from an earlier run" in demo.output
        assert "MQTT 3.1.1" in demo.output
        assert demo.interrupt() == 0, demo.output


def test_mqtt_protocol_option_defaults_to_5_and_falls_back_to_311() -> None:
    from dorsi.gateway.mqtt_link import BrokerConfig
    from dorsi.server.ingest import MqttConfig
    from dorsi.server.settings import load_settings

    assert BrokerConfig(url="mqtt://127.0.0.1", client_id="gw").protocol == "5"
    with pytest.raises(ValueError, match="protocol '4' must be one of"):
        BrokerConfig(url="mqtt://127.0.0.1", client_id="gw", protocol="4")
    shared = MqttConfig(subscription="shared").subscriptions()
    assert all(t.startswith("$share/") for t in shared[:-1])
    plain = [f"dorsi/v1/+/+/{k}" for k in ("strides", "activity", "battery", "status")]
    assert MqttConfig(protocol="3.1.1").subscriptions() == plain
    assert MqttConfig().subscriptions() == plain  # partitioned by default
    with pytest.raises(ValueError, match="protocol"):
        MqttConfig(protocol="3.1")
    with pytest.raises(ValueError, match="shared subscriptions need MQTT 5"):
        MqttConfig(protocol="3.1.1", subscription="shared")
    settings = load_settings(environ={"DORSI_MQTT__PROTOCOL": "3.1.1"})
    assert settings.mqtt.config().protocol == "3.1.1"
    assert load_settings(environ={}).mqtt.config().protocol == "5"
