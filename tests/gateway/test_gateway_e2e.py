"""End to end: virtual sensor → (real bleak code on bumble) → gateway → real Mosquitto → subscriber.

The sensor plays a simulated foot-drop walk in time-lapse; the subscriber must receive every
stride the simulator's truth has (minus those the analysis cannot find), once by identity,
with the right metrics — also when the BLE link drops, the broker restarts, the gateway process
is restarted, and the sensor sends malformed packets.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dorsi.firmware_protocol import Side
from dorsi.firmware_protocol.bleak_backend import BumbleHub
from dorsi.firmware_protocol.sim import SimulatedRecording, simulate
from dorsi.firmware_protocol.virtual.link import VirtualRadio
from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
from dorsi.firmware_protocol.virtual.source import ArraySource
from dorsi.gateway.config import parse_config
from dorsi.gateway.runner import Gateway

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

SPEED = 8.0
"""Time-lapse: device time runs this much faster than the host (a 90 s walk in ~11 s)."""
RATE_HZ = 104
PATIENT = "p-e2e"
MATCH_S = 0.15
"""A received stride is the truth stride whose IC lies within this (s); accuracy is tested in
tests/signal, delivery here."""


class TimeLapseClock:
    """Host UTC as the gateway sees it, running SPEED times faster, like the device clock."""

    def __init__(self) -> None:
        self.m0 = time.monotonic()
        self.utc0 = 1_800_000_000.0

    def __call__(self) -> float:
        return self.utc0 + (time.monotonic() - self.m0) * SPEED


def _walk(seconds: float, seed: int) -> SimulatedRecording:
    return simulate(
        "footdrop_mild", seconds=seconds, rate_hz=float(RATE_HZ), side="left", seed=seed
    )


@asynccontextmanager
async def _sensor(radio: VirtualRadio, rec: SimulatedRecording) -> AsyncIterator[VirtualSensor]:
    source = ArraySource(rec.t, rec.acc_mps2, rec.gyr_dps)
    sensor = VirtualSensor.on_radio(
        radio, source, SensorConfig(side=Side.LEFT, rate_hz=RATE_HZ, speed=SPEED)
    )
    await sensor.start()
    try:
        yield sensor
    finally:
        await sensor.close()


def _config(sensor: VirtualSensor, port: int, state_dir: Path) -> Any:
    return parse_config(
        {
            "gateway_id": "gw-e2e",
            "patient": PATIENT,
            "state_dir": str(state_dir),
            "broker": {"url": f"mqtt://127.0.0.1:{port}"},
            "sensors": [{"device": sensor.name, "side": "left", "mounting": "body"}],
        },
        env={},
    )


async def _run_gateway(
    config: Any, hub: BumbleHub, clock: TimeLapseClock, until: Callable[[], bool], timeout_s: float
) -> Gateway:
    gateway = Gateway(
        config,
        scanner_backend=hub.backends.scanner,
        client_backend=hub.backends.client,
        wall_clock=clock,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    deadline = time.monotonic() + timeout_s
    while not until() and time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    return gateway


def _strides(messages: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for topic, payload in messages:
        if topic.endswith("/strides"):
            out.extend(json.loads(payload)["strides"])
    return out


def _utc(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _match(received: list[dict[str, Any]], rec: SimulatedRecording) -> tuple[int, int, Any]:
    """Pair received strides with truth strides by IC time (after one common offset)."""
    unique = {s["ic_t"]: s for s in received}  # identity: (device, side, ic_t)
    ics = np.array(sorted(_utc(k) for k in unique))
    truth = np.array([s.ic_t for s in rec.strides])
    best = (0, 0.0)
    for i in range(min(5, len(ics))):
        for j in range(min(12, len(truth))):
            offset = ics[i] - truth[j]
            hits = int(
                np.sum(np.min(np.abs(ics[:, None] - (truth[None, :] + offset)), 1) < MATCH_S)
            )
            best = max(best, (hits, offset))
    return best[0], len(unique), best[1]


def _check_metrics(received: list[dict[str, Any]], rec: SimulatedRecording, offset: float) -> None:
    by_ic = {_utc(s["ic_t"]) - offset: s for s in received}
    errors = []
    ic_errors = []
    angle_errors = []
    for truth in rec.strides:
        near = [t for t in by_ic if abs(t - truth.ic_t) < MATCH_S]
        if near:
            got = by_ic[near[0]]
            ic_errors.append(near[0] - truth.ic_t)
            errors.append(got["stride_time_s"] - truth.stride_time_s)
            if got["foot_strike_angle_deg"] is not None:
                angle_errors.append(got["foot_strike_angle_deg"] - truth.foot_strike_angle_deg)
    assert np.median(np.abs(ic_errors)) < 0.02
    assert np.mean(np.abs(errors)) < 0.02
    assert np.median(np.abs(angle_errors)) < 3.0


def _expected_strides(rec: SimulatedRecording) -> int:
    """Strides the analysis can find: those complete before the sensor's source ends."""
    return sum(1 for s in rec.strides if s.next_ic_t < rec.t[-1] - 1.0)


@pytest.mark.parametrize("faults", ["none", "link_drops_and_malformed"])
def test_walk_arrives_complete(mosquitto, subscribe, tmp_path: Path, faults: str) -> None:  # type: ignore[no-untyped-def]
    rec = _walk(90.0, seed=5)
    sub = subscribe(mosquitto.port, f"dorsi/v1/{PATIENT}/+/+")
    expected = _expected_strides(rec)

    async def scenario() -> Gateway:
        radio = VirtualRadio()
        clock = TimeLapseClock()
        async with _sensor(radio, rec) as sensor, BumbleHub(radio) as hub:
            if faults != "none":

                async def trouble() -> None:
                    for _ in range(3):
                        await asyncio.sleep(2.0)
                        await sensor.inject(b"\x01\x01\x00\x33garbage")
                        await sensor.inject(bytes(40))
                        sensor.drop_link()

                trouble_task = asyncio.create_task(trouble())
            gateway = await _run_gateway(
                _config(sensor, mosquitto.port, tmp_path),
                hub,
                clock,
                until=lambda: len({s["ic_t"] for s in _strides(sub.messages)}) >= expected,
                timeout_s=90.0 / SPEED + 40,
            )
            if faults != "none":
                await trouble_task
            return gateway

    gateway = asyncio.run(scenario())
    session = gateway.sessions[0]
    hits, unique, offset = _match(_strides(sub.messages), rec)
    assert unique == hits, "every received stride is a real stride"
    assert hits >= expected - 1, (hits, expected, session.snapshot())
    _check_metrics(_strides(sub.messages), rec, offset)
    slaps = [s["foot_slap"] for s in _strides(sub.messages)]
    assert 0 < sum(slaps) < len(slaps), "a mild foot drop slaps on some strides, not all"
    if faults != "none":
        assert session.link.stats.connects >= 4
        assert session.pipeline.stats.malformed >= 6
        assert session.pipeline.stats.lost_packets == 0, "backfill recovered every packet"
    raw_files = session.raw.files()
    assert raw_files, "raw packets kept locally for re-analysis"
    topics = {t.rsplit("/", 1)[1] for t, _ in sub.messages}
    assert {"strides", "status", "battery", "activity"} <= topics
    assert session.snapshot()["outbox_backlog"] == 0


def test_broker_restart_mid_walk_loses_nothing(mosquitto, subscribe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rec = _walk(90.0, seed=6)
    sub = subscribe(mosquitto.port, f"dorsi/v1/{PATIENT}/+/strides")
    subscribe(mosquitto.port, "dorsi/v1/#")  # the server's stand-in for activity and battery
    expected = _expected_strides(rec)

    async def scenario() -> Gateway:
        radio = VirtualRadio()
        async with _sensor(radio, rec) as sensor, BumbleHub(radio) as hub:

            async def restart_broker() -> None:
                await asyncio.sleep(3.0)
                await asyncio.to_thread(mosquitto.kill)  # abrupt: no goodbye to anyone
                await asyncio.sleep(2.0)
                await asyncio.to_thread(mosquitto.start)

            chaos = asyncio.create_task(restart_broker())
            gateway = await _run_gateway(
                _config(sensor, mosquitto.port, tmp_path),
                hub,
                TimeLapseClock(),
                until=lambda: (
                    chaos.done() and len({s["ic_t"] for s in _strides(sub.messages)}) >= expected
                ),
                timeout_s=90.0 / SPEED + 40,
            )
            await chaos
            return gateway

    gateway = asyncio.run(scenario())
    hits, unique, _ = _match(_strides(sub.messages), rec)
    assert unique == hits
    assert hits >= expected - 1
    assert gateway.sessions[0].publisher.stats.connects >= 2
    assert gateway.sessions[0].snapshot()["outbox_backlog"] == 0


def test_gateway_restart_resumes_from_the_sensor_ring_buffer(
    mosquitto, subscribe, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    rec = _walk(90.0, seed=7)
    sub = subscribe(mosquitto.port, f"dorsi/v1/{PATIENT}/+/strides")
    expected = _expected_strides(rec)

    async def scenario() -> tuple[Gateway, Gateway]:
        radio = VirtualRadio()
        clock = TimeLapseClock()
        async with _sensor(radio, rec) as sensor, BumbleHub(radio) as hub:
            config = _config(sensor, mosquitto.port, tmp_path)
            started = time.monotonic()
            first = await _run_gateway(
                config, hub, clock, until=lambda: time.monotonic() - started > 4.0, timeout_s=10
            )
            await asyncio.sleep(1.5)  # ~12 s of walking go only into the sensor's ring buffer
            second = await _run_gateway(
                config,
                hub,
                clock,
                until=lambda: len({s["ic_t"] for s in _strides(sub.messages)}) >= expected,
                timeout_s=90.0 / SPEED + 40,
            )
            return first, second

    first, second = asyncio.run(scenario())
    hits, unique, _ = _match(_strides(sub.messages), rec)
    assert first.sessions[0].pipeline.stats.strides > 5
    assert second.sessions[0].pipeline.resumed_from is not None
    assert unique == hits
    assert hits >= expected - 1, (first.sessions[0].snapshot(), second.sessions[0].snapshot())
    assert second.sessions[0].pipeline.stats.lost_packets == 0


def test_left_and_right_sensors_through_bluez_style_failures(
    mosquitto, subscribe, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """One patient, two sensors at once; connects fail like BlueZ does (InProgress, a stale
    GATT cache, an aborted connection) before they succeed."""
    from dorsi.firmware_protocol.bleak_backend import (
        FaultPoint,
        bluez_abort_by_local,
        bluez_in_progress,
    )

    walks = {"left": _walk(60.0, seed=8), "right": _walk(60.0, seed=9)}
    sub = subscribe(mosquitto.port, f"dorsi/v1/{PATIENT}/+/strides")

    def count(device: str) -> int:
        return len(
            {s["ic_t"] for t, p in sub.messages if device in t for s in json.loads(p)["strides"]}
        )

    async def scenario() -> tuple[Gateway, dict[str, str]]:
        radio = VirtualRadio()
        sensors = {}
        for side, rec in walks.items():
            source = ArraySource(rec.t, rec.acc_mps2, rec.gyr_dps)
            sensors[side] = VirtualSensor.on_radio(
                radio,
                source,
                SensorConfig(
                    side=Side.LEFT if side == "left" else Side.RIGHT, rate_hz=RATE_HZ, speed=SPEED
                ),
            )
            await sensors[side].start()
        try:
            async with BumbleHub(radio) as hub:
                hub.faults.fail_next(FaultPoint.CONNECT, bluez_in_progress, times=2)
                hub.faults.stale_services_next(address=sensors["left"].address)
                hub.faults.fail_next(
                    FaultPoint.SERVICES, bluez_abort_by_local, address=sensors["right"].address
                )
                config = parse_config(
                    {
                        "gateway_id": "gw-e2e",
                        "patient": PATIENT,
                        "state_dir": str(tmp_path),
                        "broker": {"url": f"mqtt://127.0.0.1:{mosquitto.port}"},
                        "sensors": [
                            {"device": s.name, "side": side, "mounting": "auto"}
                            for side, s in sensors.items()
                        ],
                    },
                    env={},
                )
                names = {side: s.name for side, s in sensors.items()}
                expected = {side: _expected_strides(rec) for side, rec in walks.items()}
                gateway = await _run_gateway(
                    config,
                    hub,
                    TimeLapseClock(),
                    until=lambda: all(count(names[side]) >= expected[side] - 3 for side in walks),
                    timeout_s=60.0 / SPEED + 60,
                )
                return gateway, names
        finally:
            for s in sensors.values():
                await s.close()

    gateway, names = asyncio.run(scenario())
    for session in gateway.sessions:
        assert session.link.stats.failed_attempts >= 1, "the injected failures happened"
        assert session.link.stats.connects >= 1
    for side, rec in walks.items():
        got = count(names[side])
        assert got >= _expected_strides(rec) - 3, (side, got, _expected_strides(rec))
