"""`dorsi-gateway` as a person runs it: help, scan, status and configuration errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from dorsi.firmware_protocol import Side
from dorsi.firmware_protocol.bleak_backend import BumbleHub
from dorsi.firmware_protocol.sim import simulate
from dorsi.firmware_protocol.virtual.link import VirtualRadio
from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
from dorsi.firmware_protocol.virtual.source import ArraySource
from dorsi.gateway.cli import main, scan_sensors
from dorsi.gateway.config import parse_config
from dorsi.gateway.runner import Gateway


@pytest.mark.parametrize("command", [[], ["scan"], ["run"], ["status"]])
def test_help_everywhere(command: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dorsi.gateway.cli", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "usage: dorsi-gateway" in out.stdout


def test_scan_lists_sensors_with_rssi_and_battery() -> None:
    rec = simulate("healthy", seconds=5.0, rate_hz=52.0, seed=1)
    source = ArraySource(rec.t, rec.acc_mps2, rec.gyr_dps)

    async def scenario() -> list[dict[str, object]]:
        radio = VirtualRadio()
        left = VirtualSensor.on_radio(
            radio, source, SensorConfig(side=Side.LEFT, battery_percent=81)
        )
        right = VirtualSensor.on_radio(
            radio, source, SensorConfig(side=Side.RIGHT, battery_percent=23)
        )
        await left.start()
        await right.start()
        try:
            async with BumbleHub(radio) as hub:
                hub.set_rssi(right.address, -77)
                return await scan_sensors(2.0, backends=hub.backends)
        finally:
            await left.close()
            await right.close()

    sensors = asyncio.run(scenario())
    assert [s["battery_pct"] for s in sensors] == [81, 23], "strongest first"
    assert sensors[1]["rssi_dbm"] == -77
    assert all(str(s["name"]).startswith("dorsi-") for s in sensors)


def test_status_reads_what_the_gateway_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = parse_config(
        {
            "gateway_id": "gw-1",
            "patient": "p-1",
            "state_dir": str(tmp_path),
            "broker": {"url": "mqtt://127.0.0.1:1"},
            "sensors": [{"device": "dorsi-0001", "side": "left"}],
        },
        env={},
    )
    gateway = Gateway(config)
    gateway.write_status()
    assert main(["status", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "gateway gw-1 for patient p-1: running" in out
    assert "dorsi-0001 (left): link idle" in out
    assert "outbox backlog 0 messages" in out
    assert main(["status", "--state-dir", str(tmp_path / "missing")]) == 1
    assert "has not run yet" in capsys.readouterr().err


def test_bad_config_says_what_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('gateway_id = "gw-1"\npatient = "p-1"\n[broker]\nurl = "mqtt://x"\n')
    assert main(["run", "--config", str(path)]) == 2
    assert "at least one [[sensors]] table" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "none.toml")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.services
def test_run_simulate_publishes_live_strides(  # type: ignore[no-untyped-def]
    mosquitto, subscribe, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dorsi-gateway run --simulate` as a process: strides reach the broker; SIGTERM stops it."""
    import json
    import signal

    sub = subscribe(mosquitto.port, "dorsi/v1/p-sim/+/strides")
    subscribe(mosquitto.port, "dorsi/v1/#")  # the server's stand-in for activity and battery
    config = tmp_path / "gateway.toml"
    config.write_text(
        'gateway_id = "gw-sim"\npatient = "p-sim"\n'
        f'state_dir = "{tmp_path / "state"}"\n'
        f'[broker]\nurl = "mqtt://127.0.0.1:{mosquitto.port}"\n'
        '[[sensors]]\ndevice = "dorsi-5101"\nside = "left"\nmounting = "body"\n'
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dorsi.gateway.cli",
            "run",
            "--config",
            str(config),
            "--simulate",
            "healthy",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        sub.wait_for(lambda m: len(m) >= 2, timeout_s=60)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-2000:]
    strides = [s for _, p in sub.messages for s in json.loads(p)["strides"]]
    assert all(s["foot_slap"] == 0 for s in strides), "healthy walking"
    assert "dorsi-5101" in sub.messages[0][0]
    assert main(["status", "--state-dir", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    assert "gateway gw-sim for patient p-sim: stopped" in out
    assert "outbox backlog 0 messages" in out
