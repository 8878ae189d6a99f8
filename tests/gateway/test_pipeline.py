"""Packets → strides in the outbox: same strides as the batch analysis, in UTC, despite
reordering, duplicates, malformed packets, gaps filled by backfill, late clock sync and reboots."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest

from dorsi.firmware_protocol import (
    TICK_HZ,
    AccRange,
    GyroRange,
    ImuPacket,
    PacketFlag,
    SampleRate,
    decode_packet,
    encode_packet,
)
from dorsi.firmware_protocol.clock import ClockMapper
from dorsi.firmware_protocol.sim import simulate
from dorsi.firmware_protocol.virtual.quantize import quantize
from dorsi.gateway.outbox import Outbox
from dorsi.gateway.payloads import Source
from dorsi.gateway.pipeline import SensorPipeline
from dorsi.signal import analyze

RATE_HZ = 104
PER_PACKET = 19
TICK0 = 5_000_000  # the sensor has been up a while
UTC0 = 1_795_000_000.0  # host UTC at tick 0 of this boot
SOURCE = Source("p-1", "dorsi-0001", "left", "gw-test", "dorsi-signal test")


def _packets(seconds: float, seed: int = 3, tick0: int = TICK0) -> tuple[list[bytes], object]:
    rec = simulate("footdrop_mild", seconds=seconds, rate_hz=float(RATE_HZ), side="left", seed=seed)
    counts = quantize(rec.acc_mps2, rec.gyr_dps, AccRange.G16, GyroRange.DPS2000)
    out = []
    for seq, start in enumerate(range(0, counts.shape[0] - PER_PACKET + 1, PER_PACKET)):
        samples = [tuple(int(v) for v in row) for row in counts[start : start + PER_PACKET]]
        packet = ImuPacket.build(
            sequence=seq % 65536,
            t0_ticks=tick0 + round(start * TICK_HZ / RATE_HZ),
            samples=samples,
            sample_rate=SampleRate.from_hz(RATE_HZ),
            acc_range=AccRange.G16,
            gyro_range=GyroRange.DPS2000,
            flags=PacketFlag.STREAM_START if seq == 0 else PacketFlag(0),
        )
        out.append(encode_packet(packet))
    return out, rec


def _resent(data: bytes) -> bytes:
    """The same packet as the sensor resends it from its ring buffer (BACKFILL flag set)."""
    packet = decode_packet(data)
    header = dataclasses.replace(packet.header, flags=packet.header.flags | PacketFlag.BACKFILL)
    return encode_packet(ImuPacket(header, packet.samples))


def _synced_clock(tick0: int = 0) -> ClockMapper:
    clock = ClockMapper()
    for k in range(5):
        ticks = tick0 + TICK0 + k * TICK_HZ
        utc = UTC0 + ticks / TICK_HZ
        clock.add_exchange(utc - 0.004, ticks, utc + 0.004)
    return clock


def _stored(outbox: Outbox) -> list[dict[str, object]]:
    strides = []
    for message in outbox.pending(limit=100_000):
        if message.kind == "stride":
            strides.extend(json.loads(message.payload)["strides"])
    return strides


def _utc(iso: object) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp()


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.db")


def _reference_ic_utc(packets: list[bytes]) -> list[float]:
    """Batch analysis of exactly the samples the packets carry, mapped to UTC."""
    decoded = [decode_packet(p) for p in packets]
    acc = np.array([a for p in decoded for a in p.acc_mps2()])
    gyr = np.array([g for p in decoded for g in p.gyr_dps()])
    t0 = decoded[0].header.t0_ticks / TICK_HZ
    result = analyze(acc, gyr, sampling_rate_hz=RATE_HZ)
    return [UTC0 + t0 + s.ic_t for s in result.strides]


def test_in_order_stream_matches_batch_analysis(outbox: Outbox) -> None:
    packets, _ = _packets(60.0)
    pipeline = SensorPipeline(source=SOURCE, outbox=outbox, clock=_synced_clock(), mounting="body")
    for data in packets:
        pipeline.handle(data)
    pipeline.flush()
    stored = [_utc(s["ic_t"]) for s in _stored(outbox)]
    expected = _reference_ic_utc(packets)
    assert len(stored) == len(expected) > 30
    assert np.max(np.abs(np.array(stored) - np.array(expected))) < 0.002


def test_reordered_duplicated_and_malformed_packets_change_nothing(outbox: Outbox) -> None:
    packets, _ = _packets(60.0)
    rng = random.Random(7)
    arrivals = list(packets)
    # A link drop: packets 100-159 arrive later, from the ring buffer (backfill), after newer ones.
    late = [_resent(p) for p in arrivals[100:160]]
    del arrivals[100:160]
    arrivals[200:200] = late
    arrivals += [_resent(p) for p in rng.sample(packets, 30)]  # a repeated backfill
    for i in sorted(rng.sample(range(len(arrivals)), 20), reverse=True):
        arrivals.insert(i, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))
    pipeline = SensorPipeline(source=SOURCE, outbox=outbox, clock=_synced_clock(), mounting="body")
    for data in arrivals:
        pipeline.handle(data)
    pipeline.flush()
    stored = sorted(_utc(s["ic_t"]) for s in _stored(outbox))
    expected = _reference_ic_utc(packets)
    assert len(stored) == len(expected)
    assert np.max(np.abs(np.array(stored) - np.array(expected))) < 0.002
    assert pipeline.stats.malformed >= 15
    assert pipeline.stats.duplicates == 30


def test_lost_gap_is_analysed_around(outbox: Outbox) -> None:
    packets, _ = _packets(60.0)
    pipeline = SensorPipeline(source=SOURCE, outbox=outbox, clock=_synced_clock(), mounting="body")
    for data in packets[:150] + packets[170:]:
        pipeline.handle(data)
    assert pipeline.reorder.held > 0, "packets wait behind the gap for a backfill"
    pipeline.give_up_gap()
    pipeline.flush()
    stored = _stored(outbox)
    full = _reference_ic_utc(packets)
    assert len(full) - 4 <= len(stored) < len(full)
    assert pipeline.stats.lost_packets == 20
    gap_start = UTC0 + (TICK0 + 150 * PER_PACKET * TICK_HZ / RATE_HZ) / TICK_HZ
    gap_end = gap_start + 20 * PER_PACKET / RATE_HZ
    for s in stored:
        assert not (_utc(s["ic_t"]) < gap_end and _utc(s["next_ic_t"]) > gap_start)


def test_strides_wait_for_the_first_time_sync(outbox: Outbox) -> None:
    packets, _ = _packets(30.0)
    clock = ClockMapper()
    pipeline = SensorPipeline(source=SOURCE, outbox=outbox, clock=clock, mounting="body")
    for data in packets:
        pipeline.handle(data)
    assert len(outbox) == 0
    assert pipeline.stats.strides_waiting_for_clock > 10
    ticks = TICK0 + 40 * TICK_HZ
    clock.add_exchange(UTC0 + ticks / TICK_HZ - 0.01, ticks, UTC0 + ticks / TICK_HZ + 0.01)
    pipeline.retry_waiting()
    stored = [_utc(s["ic_t"]) for s in _stored(outbox)]
    expected = _reference_ic_utc(packets)
    assert len(stored) == pipeline.stats.strides
    assert abs(stored[0] - expected[0]) < 0.02


def test_reboot_starts_a_new_epoch_and_keeps_old_strides(outbox: Outbox) -> None:
    first, _ = _packets(30.0, seed=1)
    second, _ = _packets(30.0, seed=2, tick0=1000)  # ticks and sequences from zero again
    clock = _synced_clock()
    pipeline = SensorPipeline(source=SOURCE, outbox=outbox, clock=clock, mounting="body")
    for data in first:
        pipeline.handle(data)
    for data in second[:5]:
        pipeline.handle(data)
    assert pipeline.stats.reboots == 1
    before = len(_stored(outbox))
    assert before > 10, "the first boot's strides are stored with the first boot's clock"
    reboot_utc = UTC0 + 10_000.0
    for k in range(3):  # the gateway time-syncs the rebooted sensor
        ticks = 1000 + k * TICK_HZ
        utc = reboot_utc + ticks / TICK_HZ
        clock.add_exchange(utc - 0.004, ticks, utc + 0.004)
    for data in second[5:]:
        pipeline.handle(data)
    pipeline.flush()
    pipeline.retry_waiting()
    stored = _stored(outbox)
    late = [_utc(s["ic_t"]) for s in stored[before:]]
    assert len(late) > 10
    assert all(reboot_utc < t < reboot_utc + 40 for t in late)


def test_auto_mounting_finds_a_rotated_sensor(outbox: Outbox) -> None:
    rec = simulate(
        "footdrop_mild",
        seconds=90.0,
        rate_hz=float(RATE_HZ),
        side="left",
        seed=4,
        mounting_rotation_deg=(12.0, -18.0, 25.0),
    )
    counts = quantize(rec.acc_mps2, rec.gyr_dps, AccRange.G16, GyroRange.DPS2000)
    pipeline = SensorPipeline(source=SOURCE, outbox=outbox, clock=_synced_clock(), mounting="auto")
    for seq, start in enumerate(range(0, counts.shape[0] - PER_PACKET + 1, PER_PACKET)):
        packet = ImuPacket.build(
            sequence=seq,
            t0_ticks=TICK0 + round(start * TICK_HZ / RATE_HZ),
            samples=[tuple(int(v) for v in r) for r in counts[start : start + PER_PACKET]],
            sample_rate=SampleRate.from_hz(RATE_HZ),
            acc_range=AccRange.G16,
            gyro_range=GyroRange.DPS2000,
        )
        pipeline.handle(encode_packet(packet))
    pipeline.flush()
    stored = _stored(outbox)
    # The gateway runs the same alignment as the batch analysis (accuracy is dorsi.signal's
    # business, tested there); it estimates it from the first minutes instead of the whole file.
    batch = analyze(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=RATE_HZ, frame="sensor")
    assert len(stored) >= len(batch.strides) - 2
    strike = [float(str(s["foot_strike_angle_deg"])) for s in stored]
    expected = [s.foot_strike_angle_deg for s in batch.strides]
    assert abs(np.median(strike) - np.median(expected)) < 1.5
    assert pipeline.stats.strides == len(stored)


def test_crash_and_restart_resumes_from_the_checkpoint_without_loss_or_duplicates(
    tmp_path: Path,
) -> None:
    packets, _ = _packets(90.0)
    path = tmp_path / "outbox.db"
    first = SensorPipeline(
        source=SOURCE, outbox=Outbox(path), clock=_synced_clock(), mounting="body"
    )
    crash_at = 260
    for data in packets[:crash_at]:
        first.handle(data)
    before = len(_stored(first.outbox))
    assert before > 10
    first.outbox.close()  # the process dies: no flush, in-memory state gone

    outbox = Outbox(path)
    second = SensorPipeline(source=SOURCE, outbox=outbox, clock=_synced_clock(), mounting="body")
    # Live packets arrive first (the sensor kept streaming), then the ring buffer's backfill.
    for data in packets[crash_at + 40 :]:
        second.handle(data)
    assert second.resumed_from is not None
    assert second.resumed_from < crash_at
    for data in packets[second.resumed_from : crash_at + 40]:
        second.handle(_resent(data))
    second.flush()
    stored = [_utc(s["ic_t"]) for s in _stored(outbox)]
    expected = _reference_ic_utc(packets)
    assert len(stored) == len(set(stored)), "no stride stored twice"
    assert len(stored) == len(expected)
    assert np.max(np.abs(np.sort(stored) - np.array(expected))) < 0.002


def test_no_resume_after_a_sensor_reboot(tmp_path: Path) -> None:
    packets, _ = _packets(40.0)
    outbox = Outbox(tmp_path / "outbox.db")
    first = SensorPipeline(source=SOURCE, outbox=outbox, clock=_synced_clock(), mounting="body")
    for data in packets:
        first.handle(data)
    second = SensorPipeline(source=SOURCE, outbox=outbox, clock=_synced_clock(), mounting="body")
    assert not second.resume(uptime_ticks=1000), "ticks went back: the ring buffer is gone"
    assert second.resumed_from is None
