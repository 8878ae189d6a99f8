"""StreamingAnalyzer on 208 Hz packets of 19 samples: CPU per second of input and emit delay.

Simulated walking (``dorsi.firmware_protocol.sim``, ``--scenario``, ``--minutes``, body frame)
is pushed packet by packet, as the gateway does. Prints (asserts nothing):

- CPU (process time) spent in `push`/`flush` per second of input, as % of one core
  (target < 2 %), median over ``--repeats`` passes (fresh analyzer each pass; BLAS threads 1);
- emit delay: for every stride, the data time of the last sample of the packet that returned
  it minus the stride's `next_ic_t` (target ≤ 0.5 s): median, 95th percentile, max. It is
  bounded by the analyzer's data wait (`stride_ready_s`, the mid-stance after the contact must
  be in the buffer) + one re-analysis step + one packet (a stride can only be returned when the
  packet that completes its data arrives);
- the peer: batch `analyze` on the same data (CPU % of one core, strides), the ratio
  streaming / batch CPU, and whether both give the same strides (`ic_t` within 1 ms).

Usage: ``.venv/bin/python bench/signal_streaming.py [--minutes 10] [--scenario healthy]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from dorsi.firmware_protocol.sim import simulate  # noqa: E402
from dorsi.signal import StreamingAnalyzer, analyze  # noqa: E402

RATE_HZ = 208.0
PACKET_SAMPLES = 19
CPU_TARGET_PCT = 2.0
DELAY_TARGET_S = 0.5

FloatArray = NDArray[np.float64]


def stream_once(
    t: FloatArray, acc: FloatArray, gyr: FloatArray
) -> tuple[float, list[float], list[float]]:
    """One pass: (CPU s, emit delays s, emitted ic_t)."""
    analyzer = StreamingAnalyzer(sampling_rate_hz=RATE_HZ)
    delays: list[float] = []
    ic_t: list[float] = []
    c0 = time.process_time()
    for i in range(0, t.shape[0], PACKET_SAMPLES):
        sl = slice(i, i + PACKET_SAMPLES)
        emitted = analyzer.push(t[sl], acc[sl], gyr[sl])
        if emitted:
            now = float(t[sl][-1])
            for s in emitted:
                delays.append(now - s.next_ic_t)
                ic_t.append(s.ic_t)
    tail = analyzer.flush()
    cpu = time.process_time() - c0
    ic_t += [s.ic_t for s in tail]  # end of data: no meaningful delay
    return cpu, delays, ic_t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scenario", default="healthy")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rec = simulate(args.scenario, seconds=60.0 * args.minutes, rate_hz=RATE_HZ, seed=args.seed)
    acc, gyr = np.asarray(rec.acc_mps2), np.asarray(rec.gyr_dps)
    t = np.arange(acc.shape[0]) / RATE_HZ
    seconds = acc.shape[0] / RATE_HZ
    packets = -(-acc.shape[0] // PACKET_SAMPLES)
    print(
        f"input: simulated {args.scenario} (seed {args.seed}), {seconds / 60:.1f} min at "
        f"{RATE_HZ:.0f} Hz, {packets} packets of {PACKET_SAMPLES} samples, "
        f"{len(rec.strides)} truth strides"
    )

    passes = [stream_once(t, acc, gyr) for _ in range(args.repeats)]
    cpu_stream = statistics.median(p[0] for p in passes)
    delays = np.array(passes[0][1])
    stream_ic = np.array(passes[0][2])

    batch_cpu = []
    batch = analyze(acc, gyr, sampling_rate_hz=RATE_HZ)  # warm-up
    for _ in range(args.repeats):
        c0 = time.process_time()
        batch = analyze(acc, gyr, sampling_rate_hz=RATE_HZ)
        batch_cpu.append(time.process_time() - c0)
    cpu_batch = statistics.median(batch_cpu)
    batch_ic = np.array([s.ic_t for s in batch.strides])
    same = batch_ic.shape == stream_ic.shape and bool(
        np.all(np.abs(np.sort(batch_ic) - np.sort(stream_ic)) <= 1e-3)
    )

    pct_stream = 100.0 * cpu_stream / seconds
    pct_batch = 100.0 * cpu_batch / seconds
    print()
    print(f"{'measure':<44} {'value':>10}  target")
    verdict = "meets" if pct_stream < CPU_TARGET_PCT else "MISSES"
    print(f"{'streaming CPU, % of one core (median)':<44} {pct_stream:>9.2f}%  "
          f"< {CPU_TARGET_PCT:.0f} % ({verdict}); passes: "
          + ", ".join(f"{100 * p[0] / seconds:.2f}" for p in passes))  # fmt: skip
    print(f"{'streaming CPU per packet':<44} {1e6 * cpu_stream / packets:>8.0f} µs")
    if delays.size:
        verdict = "meets" if delays.max() <= DELAY_TARGET_S else "MISSES"
        print(f"{'emit delay after next_ic_t: median':<44} {np.median(delays):>8.3f} s")
        print(f"{'                            95th percentile':<44} "
              f"{np.percentile(delays, 95):>8.3f} s")  # fmt: skip
        print(f"{'                            max':<44} {delays.max():>8.3f} s  "
              f"<= {DELAY_TARGET_S} s ({verdict})")  # fmt: skip
        over = 100.0 * float(np.mean(delays > DELAY_TARGET_S))
        print(f"{'  share of strides later than the target':<44} {over:>8.1f} %")
    ready = StreamingAnalyzer(sampling_rate_hz=RATE_HZ).stride_ready_s
    print(f"{'  = data wait (stride_ready_s)':<44} {ready:>8.3f} s  + re-analysis step (20 ms)"
          f" + packet length {PACKET_SAMPLES / RATE_HZ:.3f} s")  # fmt: skip
    print(f"{'strides emitted while streaming (+ at flush)':<44} "
          f"{delays.size:>6} (+{stream_ic.size - delays.size})")  # fmt: skip
    print()
    print(f"{'peer: batch analyze, % of one core (median)':<44} {pct_batch:>9.3f}%")
    print(f"{'ratio streaming / batch CPU':<44} {cpu_stream / cpu_batch:>9.1f}x")
    print(f"{'batch strides; same as streaming (ic_t 1 ms)':<44} {batch_ic.size:>6}   {same}")


if __name__ == "__main__":
    main()
