"""Notifications per second through real bleak on the bumble backend (prints, asserts nothing).

Two measurements over the in-process virtual radio, one ``BleakClient`` subscribed to the data
characteristic:

- ``stream``: the virtual sensor streams 208 Hz packets (19 samples) in time-lapse, as fast as
  its acquisition loop and the link allow;
- ``inject``: pre-encoded packets pushed with ``VirtualSensor.inject`` back to back (the
  link + bleak ceiling without the sensor's sampling work).

Usage: ``.venv/bin/python bench/bleak_backend_throughput.py [--seconds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

import numpy as np
from bleak import BleakClient

from dorsi.firmware_protocol.bleak_backend import BumbleHub
from dorsi.firmware_protocol.constants import (
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    MAX_SAMPLES_PER_PACKET,
    SEQUENCE_MODULUS,
    AccRange,
    GyroRange,
    SampleRate,
)
from dorsi.firmware_protocol.control import ControlRequest, encode_request
from dorsi.firmware_protocol.packets import ImuPacket, decode_packet, encode_packet
from dorsi.firmware_protocol.virtual.link import VirtualRadio
from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
from dorsi.firmware_protocol.virtual.source import ArraySource

RATE_HZ = 208
NEEDED_PER_S = RATE_HZ / MAX_SAMPLES_PER_PACKET  # one sensor, real time


def source(seconds: float = 30.0) -> ArraySource:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    acc = np.tile([0.0, 0.0, 9.81], (t.size, 1))
    gyr = np.column_stack([np.zeros_like(t), -300 * np.sin(2 * np.pi * t), np.zeros_like(t)])
    return ArraySource(t, acc, gyr)


def report(mode: str, received: list[tuple[float, bytes]], modulus: int = SEQUENCE_MODULUS) -> None:
    if len(received) < 2:
        print(f"{mode:>6}: too few notifications ({len(received)})")
        return
    span_s = received[-1][0] - received[0][0]
    per_s = (len(received) - 1) / span_s
    sequences = [decode_packet(data).header.sequence for _, data in received]
    gaps = sum((b - a) % modulus != 1 for a, b in itertools.pairwise(sequences))
    print(
        f"{mode:>6}: {len(received)} notifications in {span_s:.2f} s = {per_s:,.0f}/s "
        f"({per_s * MAX_SAMPLES_PER_PACKET:,.0f} samples/s, {per_s / NEEDED_PER_S:,.0f}× one "
        f"sensor at {RATE_HZ} Hz), sequence gaps: {gaps}"
    )


async def measure(seconds: float, speed: float) -> None:
    radio = VirtualRadio()
    config = SensorConfig(rate_hz=RATE_HZ, speed=speed, loop=True)
    async with VirtualSensor.on_radio(radio, source(), config) as sensor, BumbleHub(radio) as hub:
        client = BleakClient(sensor.address, backend=hub.backends.client, timeout=5.0)
        async with client:
            received: list[tuple[float, bytes]] = []
            await client.start_notify(
                DATA_CHAR_UUID, lambda _c, d: received.append((time.monotonic(), bytes(d)))
            )
            await client.start_notify(CONTROL_CHAR_UUID, lambda _c, _d: None)
            await client.write_gatt_char(
                CONTROL_CHAR_UUID, encode_request(ControlRequest.start_stream(1)), True
            )
            await asyncio.sleep(seconds)
            await client.write_gatt_char(
                CONTROL_CHAR_UUID, encode_request(ControlRequest.stop_stream(2)), True
            )
            await asyncio.sleep(0.2)
            report("stream", received)

            received.clear()
            samples = [(0, 0, 16384, 0, -5000, 0)] * MAX_SAMPLES_PER_PACKET
            packets = [
                encode_packet(
                    ImuPacket.build(
                        sequence=i,
                        t0_ticks=i * 3000,
                        samples=samples,
                        sample_rate=SampleRate.HZ_208,
                        acc_range=AccRange.G16,
                        gyro_range=GyroRange.DPS2000,
                    )
                )
                for i in range(4096)
            ]
            deadline = time.monotonic() + seconds
            i = 0
            while time.monotonic() < deadline:
                await sensor.inject(packets[i % len(packets)])
                i += 1
                if i % 64 == 0:
                    await asyncio.sleep(0)
            await asyncio.sleep(0.2)
            report("inject", received, modulus=len(packets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each run (s)")
    parser.add_argument(
        "--speed", type=float, default=300.0, help="sensor time-lapse factor for 'stream'"
    )
    args = parser.parse_args()
    asyncio.run(measure(args.seconds, args.speed))


if __name__ == "__main__":
    main()
