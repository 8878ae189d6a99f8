"""Hostile sensor packets: 1,000,000 random and mutated notifications through the decoder and the
gateway's pipeline; no crash, no hang, every rejection counted.

Inputs are mutations of a real-looking stream (a simulated foot-drop walk, encoded as the sensor
does): bit flips, truncation, extension, byte swaps, header field edits (version, stream type,
flags, ranges, sequence, sample count, rate, t0), plus pure random bytes; a share is left valid so
the sequence, reorder and analysis stages see a live stream between the hostile packets.

- All 1,000,000 go through ``decode_packet`` and through a ``SensorPipeline`` whose analysis stage
  is replaced by a counter (decode → reboot detection → sequence tracking → reorder release).
- 100,000 of them go through the full pipeline (analysis, clock mapping, outbox): its analysis
  costs ~1.5 ms per released packet, so 1 M would take ~25 min on this machine.

In both, ``pipeline.stats.malformed`` must equal the number of inputs the decoder rejects.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from dorsi.firmware_protocol import (
    HEADER_SIZE,
    TICK_HZ,
    AccRange,
    GyroRange,
    ImuPacket,
    PacketFlag,
    ProtocolError,
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
from dorsi.gateway.reorder import Gap, Released

pytestmark = pytest.mark.slow

N_FAST = 1_000_000
N_FULL = 100_000
FAST_PIPELINE_EVERY = 2_000
FULL_PIPELINE_EVERY = 2_000
GIVE_UP_EVERY = 61  # inputs between "the gap will not be filled" decisions
MAX_CALL_S = 0.5  # per decode / per fast-path handle (a hang, not a GC pause on a shared core)
MAX_FULL_CALL_S = 5.0  # per full-pipeline handle (a run flush may analyse a few seconds)
RATE_HZ = 104
PER_PACKET = 19
TICK0 = 5_000_000
UTC0 = 1_795_000_000.0
SOURCE = Source("p-fuzz", "dorsi-f022", "left", "gw-fuzz", "dorsi-signal fuzz")
SEED = 20261128


def _stream(seconds: float) -> list[bytes]:
    """A valid in-order packet stream of a simulated foot-drop walk."""
    rec = simulate("footdrop_mild", seconds=seconds, rate_hz=float(RATE_HZ), side="left", seed=11)
    counts = quantize(rec.acc_mps2, rec.gyr_dps, AccRange.G16, GyroRange.DPS2000)
    out = []
    for seq, start in enumerate(range(0, counts.shape[0] - PER_PACKET + 1, PER_PACKET)):
        packet = ImuPacket.build(
            sequence=seq % 65536,
            t0_ticks=TICK0 + round(start * TICK_HZ / RATE_HZ),
            samples=[tuple(int(v) for v in row) for row in counts[start : start + PER_PACKET]],
            sample_rate=SampleRate.from_hz(RATE_HZ),
            acc_range=AccRange.G16,
            gyro_range=GyroRange.DPS2000,
            flags=PacketFlag.STREAM_START if seq == 0 else PacketFlag(0),
        )
        out.append(encode_packet(packet))
    return out


def _synced_clock() -> ClockMapper:
    clock = ClockMapper()
    for k in range(5):
        ticks = TICK0 + k * TICK_HZ
        utc = UTC0 + ticks / TICK_HZ
        clock.add_exchange(utc - 0.004, ticks, utc + 0.004)
    return clock


def _inputs(base: list[bytes], n: int, seed: int) -> list[bytes]:
    """``n`` inputs walking through ``base`` in order, most of them mutated (vectorised)."""
    rng = np.random.default_rng(seed)
    size = len(base[0])
    assert all(len(b) == size for b in base)
    frame = np.frombuffer(b"".join(base), dtype=np.uint8).reshape(len(base), size)
    # Walk the valid stream in order (wrapping), a few packets late or early at times.
    index = (np.arange(n) + rng.integers(-3, 4, n) * (rng.random(n) < 0.1)) % len(base)
    rows = frame[index].copy()
    kind = rng.choice(8, size=n, p=[0.2, 0.2, 0.1, 0.1, 0.1, 0.15, 0.05, 0.1])
    lengths = np.full(n, size)
    # Bit flips and swaps leave the sequence field alone: its edits are dosed below.
    anywhere = np.array([o for o in range(size) if o not in (4, 5)])
    # 0: valid; 1: 1-3 bit flips
    for _ in range(3):
        sel = np.flatnonzero((kind == 1) & (rng.random(n) < 0.7))
        rows[sel, rng.choice(anywhere, sel.size)] ^= (1 << rng.integers(0, 8, sel.size)).astype(
            np.uint8
        )
    # 2: truncation (possibly to nothing)
    sel = kind == 2
    lengths[sel] = rng.integers(0, size, int(sel.sum()))
    # 3: byte swap
    sel = np.flatnonzero(kind == 3)
    i, j = rng.choice(anywhere, sel.size), rng.choice(anywhere, sel.size)
    rows[sel, i], rows[sel, j] = rows[sel, j], rows[sel, i]
    # 4: one random header byte (the sequence field has its own edits below)
    sel = np.flatnonzero(kind == 4)
    offsets = np.array([o for o in range(HEADER_SIZE) if o not in (4, 5)])
    rows[sel, rng.choice(offsets, sel.size)] = rng.integers(0, 256, sel.size)
    # 5: a header field set to an edge or random value (offsets per packets.py's header struct)
    sel = np.flatnonzero(kind == 5)
    field = rng.integers(0, 6, sel.size)
    edge = rng.choice(np.array([0, 1, 2, 3, 4, 5, 15, 16, 19, 20, 127, 128, 255]), sel.size)
    for f, offset in enumerate((0, 1, 2, 3, 6, 7)):  # version stream flags ranges count rate
        s = sel[field == f]
        rows[s, offset] = edge[field == f]
    # and/or the sequence (mostly a few packets off: a far jump stalls the stream by design,
    # until the gap is given up and the stream catches up) and t0 fields
    s = sel[rng.random(sel.size) < 0.2]
    far = rng.random(s.size) < 0.01
    sequence = rows[s, 4].astype(np.int64) | (rows[s, 5].astype(np.int64) << 8)
    sequence = np.where(far, rng.integers(0, 65536, s.size), sequence + rng.integers(-8, 9, s.size))
    rows[s, 4] = sequence & 0xFF
    rows[s, 5] = (sequence >> 8) & 0xFF
    s = sel[rng.random(sel.size) < 0.3]
    rows[s, 8:16] = np.where(rng.random((s.size, 1)) < 0.5, 0xFF, rng.integers(0, 256, (s.size, 8)))
    # 6: pure random bytes; 7: extension by 1-40 random bytes
    wide = np.concatenate([rows, rng.integers(0, 256, (n, 64), dtype=np.uint8)], axis=1)
    sel = np.flatnonzero(kind == 6)
    wide[sel] = rng.integers(0, 256, (sel.size, wide.shape[1]), dtype=np.uint8)
    lengths[sel] = rng.integers(0, wide.shape[1] + 1, sel.size)
    sel = kind == 7
    lengths[sel] = size + rng.integers(1, 41, int(sel.sum()))
    return [wide[k, : lengths[k]].tobytes() for k in range(n)]


def _decoder_rejects(inputs: list[bytes]) -> tuple[np.ndarray, float]:
    """Which inputs ``decode_packet`` rejects (only ProtocolError may escape); slowest call."""
    rejected = np.zeros(len(inputs), dtype=bool)
    slowest = 0.0
    for k, data in enumerate(inputs):
        t = time.perf_counter()
        try:
            decode_packet(data)
        except ProtocolError as exc:
            rejected[k] = bool(str(exc))  # a rejection always says why
        slowest = max(slowest, time.perf_counter() - t)
    return rejected, slowest


class _NoAnalysisPipeline(SensorPipeline):
    """The real pipeline up to the reorder buffer; released packets are counted, not analysed."""

    released = 0

    def _release(self, item: Released[ImuPacket] | Gap) -> int:
        if isinstance(item, Gap):
            self.stats.gaps += 1
            self.stats.lost_packets += item.count
        else:
            self.released += 1
        return 0


def _give_up_all(pipeline: SensorPipeline) -> None:
    """The gateway's backfill timed out: none of the gaps held packets wait on will be filled."""
    for _ in range(GIVE_UP_EVERY + 1):  # each call gives up one gap
        if not pipeline.reorder.held:
            return
        pipeline.give_up_gap()
    raise AssertionError(f"{pipeline.reorder.held} packets still held after giving up every gap")


def _run(
    inputs: list[bytes], tmp: Path, factory: type[SensorPipeline], every: int, max_call_s: float
) -> dict[str, int | float]:
    """Feed ``inputs`` to a fresh pipeline every ``every`` inputs; returns summed stats."""
    totals: dict[str, int | float] = {
        "malformed": 0,
        "duplicates": 0,
        "released": 0,
        "strides": 0,
        "reboots": 0,
        "gaps": 0,
        "slowest_s": 0.0,
    }
    for start in range(0, len(inputs), every):
        outbox = Outbox(tmp / f"outbox-{factory.__name__}-{start}.db")
        pipeline = factory(source=SOURCE, outbox=outbox, clock=_synced_clock(), mounting="body")
        for k, data in enumerate(inputs[start : start + every]):
            t = time.perf_counter()
            pipeline.handle(data)
            if k % GIVE_UP_EVERY == GIVE_UP_EVERY - 1:
                _give_up_all(pipeline)
            totals["slowest_s"] = max(totals["slowest_s"], time.perf_counter() - t)
        _give_up_all(pipeline)
        pipeline.flush()
        assert pipeline.stats.packets == min(every, len(inputs) - start)
        totals["malformed"] += pipeline.stats.malformed
        totals["duplicates"] += pipeline.stats.duplicates
        totals["strides"] += pipeline.stats.strides
        totals["reboots"] += pipeline.stats.reboots
        totals["gaps"] += pipeline.stats.gaps
        totals["released"] += getattr(pipeline, "released", pipeline.stats.samples // PER_PACKET)
        outbox.close()
    assert totals["slowest_s"] < max_call_s, totals
    return totals


def test_a_million_hostile_packets_through_decoder_and_pipeline(tmp_path: Path) -> None:
    base = _stream(240.0)
    t_start = time.perf_counter()
    inputs = _inputs(base, N_FAST, SEED)
    t_gen = time.perf_counter() - t_start
    rejected, slowest_decode = _decoder_rejects(inputs)
    t_decode = time.perf_counter() - t_start - t_gen
    assert slowest_decode < MAX_CALL_S
    # Every kind of outcome occurs: a fuzz that rejects (or accepts) everything proves nothing.
    assert 0.2 * N_FAST < rejected.sum() < 0.8 * N_FAST
    fast = _run(inputs, tmp_path, _NoAnalysisPipeline, FAST_PIPELINE_EVERY, MAX_CALL_S)
    t_fast = time.perf_counter() - t_start - t_gen - t_decode
    assert fast["malformed"] == int(rejected.sum()), "every rejection counted"
    assert fast["released"] > 0.1 * N_FAST
    assert fast["duplicates"] > 0
    assert fast["reboots"] > 0
    assert fast["gaps"] > 0

    full_inputs = _inputs(base, N_FULL, SEED + 1)
    full_rejected, _ = _decoder_rejects(full_inputs)
    full = _run(full_inputs, tmp_path, SensorPipeline, FULL_PIPELINE_EVERY, MAX_FULL_CALL_S)
    t_full = time.perf_counter() - t_start - t_gen - t_decode - t_fast
    assert full["malformed"] == int(full_rejected.sum()), "every rejection counted"
    assert full["strides"] > 0, "the valid share of the stream still yields strides"
    print(
        f"\n{N_FAST} inputs: decoder rejected {int(rejected.sum())}; fast pipeline "
        f"{fast}; {N_FULL} through the full pipeline: rejected {int(full_rejected.sum())}, "
        f"{full}; s: generate {t_gen:.1f}, decode {t_decode:.1f}, fast {t_fast:.1f}, "
        f"full {t_full:.1f}"
    )


def test_mutations_are_reproducible() -> None:
    base = _stream(20.0)
    assert _inputs(base, 500, 1) == _inputs(base, 500, 1)
    assert _inputs(base, 500, 1) != _inputs(base, 500, 2)
