"""Per-minute wear/walking summaries on UTC minutes, from the same rule as dorsi.signal."""

from __future__ import annotations

import json
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
from dorsi.gateway.activity import ActivityAccumulator
from dorsi.gateway.outbox import Outbox
from dorsi.gateway.payloads import Source
from dorsi.gateway.pipeline import SensorPipeline
from dorsi.signal import analyze

UTC0 = 1_800_000_000.0  # on a minute boundary


def test_empty() -> None:
    assert ActivityAccumulator(sampling_rate_hz=52).completed(final=True) == []


def test_a_mixed_day_gives_walking_still_and_not_worn_minutes() -> None:
    rec = simulate("mixed_day", seconds=1800.0, rate_hz=52.0, seed=2)
    strides = analyze(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=52.0).strides
    acc_state = ActivityAccumulator(sampling_rate_hz=52.0)
    for start in range(0, rec.t.shape[0], 19 * 11):  # about 4 s chunks, like packets arrive
        stop = start + 19 * 11
        acc_state.add_samples(
            UTC0 + rec.t[start:stop], rec.acc_mps2[start:stop], rec.gyr_dps[start:stop]
        )
    for s in strides:
        acc_state.add_stride(UTC0 + s.ic_t, UTC0 + s.next_ic_t)
    minutes = acc_state.completed(final=True)
    assert len(minutes) == 30
    assert [m.t_utc_s for m in minutes] == [UTC0 + 60 * k for k in range(30)]
    states = {m.state for m in minutes}
    assert states == {"walking", "worn_still", "not_worn"}, states
    for m in minutes:
        assert 0 <= m.walking_s <= m.worn_s <= 60
        if m.state == "walking":
            assert m.strides > 0
        if m.state == "not_worn":
            assert m.worn_s == 0
            assert m.strides == 0
    assert sum(m.strides for m in minutes) == len(strides)


def test_minutes_without_enough_data_are_left_out() -> None:
    acc_state = ActivityAccumulator(sampling_rate_hz=52.0)
    n = 52 * 20  # 20 s of a minute only (the link was down)
    acc_state.add_samples(
        UTC0 + np.arange(n) / 52.0, np.tile([0.0, 0.0, 9.81], (n, 1)), np.zeros((n, 3))
    )
    assert acc_state.completed(final=True) == []


def test_pipeline_publishes_activity_minutes(tmp_path: Path) -> None:
    # reuse the packet builder of test_pipeline through a tiny local copy of its idea

    rec = simulate("footdrop_mild", seconds=150.0, rate_hz=104.0, seed=3)
    counts = quantize(rec.acc_mps2, rec.gyr_dps, AccRange.G16, GyroRange.DPS2000)
    clock = ClockMapper()
    clock.add_exchange(UTC0 - 0.001, 0, UTC0 + 0.001)
    outbox = Outbox(tmp_path / "o.db")
    pipeline = SensorPipeline(
        source=Source("p-1", "dorsi-1", "left", "gw", "t"),
        outbox=outbox,
        clock=clock,
        mounting="body",
    )
    for seq, start in enumerate(range(0, counts.shape[0] - 18, 19)):
        pipeline.handle(
            encode_packet(
                ImuPacket.build(
                    sequence=seq,
                    t0_ticks=round(start * TICK_HZ / 104),
                    samples=[tuple(int(v) for v in r) for r in counts[start : start + 19]],
                    sample_rate=SampleRate.from_hz(104),
                    acc_range=AccRange.G16,
                    gyro_range=GyroRange.DPS2000,
                )
            )
        )
    pipeline.flush()
    minutes = [
        m
        for msg in outbox.pending(limit=10_000)
        if msg.kind == "activity"
        for m in json.loads(msg.payload)["minutes"]
    ]
    assert [m["t"] for m in minutes] == [
        "2027-01-15T08:00:00.000000Z",
        "2027-01-15T08:01:00.000000Z",
    ], "the last 30 s are too little to classify a minute"
    assert {m["state"] for m in minutes} <= {"walking", "worn_still"}
    assert minutes[0]["state"] == "walking"
