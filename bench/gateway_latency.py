"""Stride latency through the whole gateway, in real time (target p99 ≤ 0.5 s after completion).

A virtual sensor streams a simulated foot-drop walk at 1× speed over the bumble-backed bleak
backend; the real gateway publishes to a real Mosquitto (started here on a free port); a
subscriber notes when each stride arrives. Printed per stride: arrival − UTC(next_ic_t) (the
stride's last event) and arrival − the moment the gateway's analysis emitted it.

    .venv/bin/python bench/gateway_latency.py [--seconds 60] [--rate 208]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from dorsi.firmware_protocol import Side, samples_per_live_packet
from dorsi.firmware_protocol.bleak_backend import BumbleHub
from dorsi.firmware_protocol.sim import simulate
from dorsi.firmware_protocol.virtual.link import VirtualRadio
from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
from dorsi.firmware_protocol.virtual.source import ArraySource
from dorsi.gateway.config import parse_config
from dorsi.gateway.runner import Gateway
from dorsi.signal import StreamingAnalyzer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"
    )
    if os.geteuid() == 0:  # mosquitto drops privileges to its own user
        shutil.chown(workdir, user="mosquitto")
    process = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start (apt-get install mosquitto)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=208, choices=[52, 104, 208])
    args = parser.parse_args()
    rec = simulate("footdrop_mild", seconds=args.seconds + 5, rate_hz=float(args.rate), seed=12)
    arrivals: list[tuple[float, dict[str, object]]] = []
    lock = threading.Lock()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        with lock:
            for stride in json.loads(msg.payload)["strides"]:
                arrivals.append((now, stride))

    with tempfile.TemporaryDirectory() as tmp:
        broker, port = _start_mosquitto(Path(tmp))
        sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-sub")
        sub.on_message = on_message
        sub.connect("127.0.0.1", port)
        sub.subscribe("dorsi/v1/+/+/strides", qos=1)
        sub.loop_start()
        emitted: dict[str, float] = {}

        async def scenario() -> Gateway:
            radio = VirtualRadio()
            source = ArraySource(rec.t, rec.acc_mps2, rec.gyr_dps)
            sensor = VirtualSensor.on_radio(
                radio, source, SensorConfig(side=Side.LEFT, rate_hz=args.rate)
            )
            await sensor.start()
            async with BumbleHub(radio) as hub:
                config = parse_config(
                    {
                        "gateway_id": "gw-bench",
                        "patient": "p-bench",
                        "state_dir": str(Path(tmp) / "state"),
                        "broker": {"url": f"mqtt://127.0.0.1:{port}"},
                        "sensors": [
                            {
                                "device": sensor.name,
                                "side": "left",
                                "rate_hz": args.rate,
                                "mounting": "body",
                            }
                        ],
                    },
                    env={},
                )
                gateway = Gateway(
                    config, scanner_backend=hub.backends.scanner, client_backend=hub.backends.client
                )
                pipeline = gateway.sessions[0].pipeline
                original = pipeline.outbox.put

                def put_and_note(topic: str, payload: bytes, **kw: object) -> int:
                    if kw.get("kind") == "stride":
                        emitted[json.loads(payload)["strides"][0]["ic_t"]] = time.time()
                    return original(topic, payload, **kw)  # type: ignore[arg-type]

                pipeline.outbox.put = put_and_note  # type: ignore[method-assign]
                stop = asyncio.Event()
                task = asyncio.create_task(gateway.run(stop))
                await asyncio.sleep(args.seconds)
                stop.set()
                await task
            await sensor.close()
            return gateway

        gateway = asyncio.run(scenario())
        sub.loop_stop()
        broker.terminate()

    def utc(value: object) -> float:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()

    after_next_ic = np.array([t - utc(s["next_ic_t"]) for t, s in arrivals])
    after_emit = np.array(
        [t - emitted[str(s["ic_t"])] for t, s in arrivals if s["ic_t"] in emitted]
    )
    print(
        f"gateway latency, {args.seconds:.0f} s real-time walk at {args.rate} Hz, "
        f"{len(arrivals)} strides delivered ({gateway.sessions[0].pipeline.stats.strides} stored)"
    )
    print(f"{'':38}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'max s':>8}")
    for name, values in (
        ("arrival − next_ic_t (stride's end)", after_next_ic),
        ("arrival − analysis emitted it", after_emit),
    ):
        q = np.percentile(values, [50, 95, 99, 100]) if values.size else [np.nan] * 4
        print(f"{name:38}" + "".join(f"{v:8.3f}" for v in q))
    ready = StreamingAnalyzer(sampling_rate_hz=float(args.rate)).stride_ready_s
    print(f"the analysis needs {ready:.3f} s of data after next_ic_t (next mid-stance) by design;")
    n = samples_per_live_packet(args.rate, 247)
    print(
        f"a live packet of {n} samples adds {n / args.rate:.3f} s of filling delay at the sensor."
    )


if __name__ == "__main__":
    main()
