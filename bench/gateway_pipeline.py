"""Gateway CPU per second of 208 Hz sensor data (target < 2 % of one core).

Feeds encoded 19-sample packets of a simulated foot-drop walk through the gateway's
``SensorPipeline`` (decode → sequence tracking → reorder → streaming analysis → UTC → outbox)
and prints CPU seconds per second of data, with the batch analysis of the same samples as a peer.

    .venv/bin/python bench/gateway_pipeline.py [--minutes 10] [--rate 208]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dorsi.firmware_protocol import (
    TICK_HZ,
    AccRange,
    GyroRange,
    ImuPacket,
    SampleRate,
    encode_packet,
)
from dorsi.firmware_protocol.clock import ClockMapper
from dorsi.firmware_protocol.sim import simulate
from dorsi.firmware_protocol.virtual.quantize import quantize
from dorsi.gateway.outbox import Outbox
from dorsi.gateway.payloads import Source
from dorsi.gateway.pipeline import SensorPipeline
from dorsi.signal import analyze

PER_PACKET = 19


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=208, choices=[52, 104, 208])
    args = parser.parse_args()
    seconds = args.minutes * 60.0
    rec = simulate("footdrop_mild", seconds=seconds, rate_hz=float(args.rate), seed=11)
    counts = quantize(rec.acc_mps2, rec.gyr_dps, AccRange.G16, GyroRange.DPS2000)
    packets = [
        encode_packet(
            ImuPacket.build(
                sequence=seq % 65536,
                t0_ticks=round(start * TICK_HZ / args.rate),
                samples=[tuple(int(v) for v in r) for r in counts[start : start + PER_PACKET]],
                sample_rate=SampleRate.from_hz(args.rate),
                acc_range=AccRange.G16,
                gyro_range=GyroRange.DPS2000,
            )
        )
        for seq, start in enumerate(range(0, counts.shape[0] - PER_PACKET + 1, PER_PACKET))
    ]
    clock = ClockMapper()
    clock.add_exchange(1.8e9 - 0.001, 0, 1.8e9 + 0.001)
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "outbox.db")
        pipeline = SensorPipeline(
            source=Source("p-bench", "dorsi-bench", "left", "gw", "bench"),
            outbox=outbox,
            clock=clock,
            mounting="auto",
        )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for data in packets:
            pipeline.handle(data)
        pipeline.flush()
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        strides = pipeline.stats.strides

    acc = rec.acc_mps2
    gyr = rec.gyr_dps
    cpu1 = time.process_time()
    batch = analyze(acc, gyr, sampling_rate_hz=args.rate, frame="sensor")
    batch_cpu = time.process_time() - cpu1

    data_s = len(packets) * PER_PACKET / args.rate
    print(f"gateway pipeline, {data_s / 60:.1f} min of {args.rate} Hz data, {len(packets)} packets")
    print(f"{'':32}{'CPU s':>10}{'% of one core':>16}{'strides':>10}")
    print(f"{'gateway SensorPipeline':32}{cpu:10.2f}{100 * cpu / data_s:15.2f}%{strides:10d}")
    print(
        f"{'peer: batch analyze (same data)':32}{batch_cpu:10.2f}"
        f"{100 * batch_cpu / data_s:15.2f}%{len(batch.strides):10d}"
    )
    print(f"wall time {wall:.2f} s; streaming/batch CPU ratio {cpu / batch_cpu:.1f}")
    per_packet_us = 1e6 * cpu / len(packets)
    print(f"per packet: {per_packet_us:.0f} µs CPU (decode + analysis + outbox)")
    assert np.isfinite(cpu)


if __name__ == "__main__":
    main()
