"""24 h of 208 Hz simulated data through `dorsi.signal.analyze` on one core: time and peak memory.

The day is the simulator's ``mixed_day`` scenario (``dorsi.firmware_protocol.sim``, seed
``--seed``; 17.97 M samples), generated once and cached as .npy files in ``--cache``
(default ``/tmp/dorsi-bench``; delete them to regenerate). The analysis runs in a fresh child
process pinned to one CPU (``sched_setaffinity``) with BLAS/OpenMP threads set to 1, which
loads the cached arrays and runs `analyze` ``--repeats`` times. Prints (asserts nothing):

- wall time and CPU (process) time per run, medians (target ≤ 5 s); on a shared machine the
  wall time includes waits for other processes on the same core, CPU time does not;
- peak memory = the child's peak resident set size, ``VmHWM`` of ``/proc/self/status`` (what
  ``getrusage(RUSAGE_SELF).ru_maxrss`` reports, except that ru_maxrss keeps the parent's peak
  across fork + exec, so it would count the simulation). It includes the interpreter,
  numpy/scipy and the 0.86 GB input arrays; the peak before the first run is printed too, so
  their difference is the analysis's own working memory (target: peak ≤ 2 GB);
- strides found vs simulator truth (matched within 0.1 s of the truth `ic_t`), and the
  ratio to real time.

Usage: ``.venv/bin/python bench/signal_day.py [--repeats 3] [--seed 9]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RATE_HZ = 208.0
DAY_S = 86_400.0
TIME_TARGET_S = 5.0
MEMORY_TARGET_GB = 2.0
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cache_paths(cache: Path, seed: int) -> dict[str, Path]:
    stem = f"mixed_day_208hz_seed{seed}"
    return {k: cache / f"{stem}_{k}.npy" for k in ("acc", "gyr", "truth_ic")}


def generate(cache: Path, seed: int) -> None:
    import numpy as np

    from dorsi.firmware_protocol.sim import simulate

    paths = cache_paths(cache, seed)
    if all(p.exists() for p in paths.values()):
        return
    cache.mkdir(parents=True, exist_ok=True)
    print(f"generating 24 h of mixed_day at {RATE_HZ:.0f} Hz (seed {seed}) into {cache} ...")
    t0 = time.perf_counter()
    rec = simulate("mixed_day", seconds=DAY_S, rate_hz=RATE_HZ, seed=seed)
    np.save(paths["acc"], np.ascontiguousarray(rec.acc_mps2, dtype=np.float64))
    np.save(paths["gyr"], np.ascontiguousarray(rec.gyr_dps, dtype=np.float64))
    np.save(paths["truth_ic"], np.array([s.ic_t for s in rec.strides], dtype=np.float64))
    print(f"  done in {time.perf_counter() - t0:.0f} s")


def peak_rss_gb() -> float:
    """Peak resident set size of this process (VmHWM), GB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def child(cache: Path, seed: int, repeats: int) -> None:
    """Runs in the pinned subprocess; prints one JSON line."""
    import numpy as np

    from dorsi.signal import analyze

    paths = cache_paths(cache, seed)
    acc = np.load(paths["acc"])
    gyr = np.load(paths["gyr"])
    truth_ic = np.load(paths["truth_ic"])
    rss_before_gb = peak_rss_gb()
    wall, cpu = [], []
    result = None
    for _ in range(repeats):
        result = None  # drop the previous result before the next run
        c0, w0 = time.process_time(), time.perf_counter()
        result = analyze(acc, gyr, sampling_rate_hz=RATE_HZ)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    assert result is not None
    ic = np.array([s.ic_t for s in result.strides])
    j = np.clip(np.searchsorted(truth_ic, ic), 1, truth_ic.size - 1)
    nearest = np.minimum(np.abs(truth_ic[j] - ic), np.abs(truth_ic[j - 1] - ic))
    print(
        json.dumps(
            {
                "samples": int(acc.shape[0]),
                "wall_s": wall,
                "cpu_s": cpu,
                "rss_before_gb": rss_before_gb,
                "rss_peak_gb": peak_rss_gb(),
                "strides": len(result.strides),
                "matched": int(np.sum(nearest <= 0.1)),
                "truth": int(truth_ic.size),
                "bouts": len(result.bouts),
                "cpu": sorted(os.sched_getaffinity(0)),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/dorsi-bench"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.cache, args.seed, args.repeats)
        return

    generate(args.cache, args.seed)
    cpu = max(os.sched_getaffinity(0))
    env = dict(os.environ, **{v: "1" for v in THREAD_VARS})
    cmd = [sys.executable, __file__, "--child", "--cache", str(args.cache)]
    cmd += ["--seed", str(args.seed), "--repeats", str(args.repeats)]
    done = subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),  # one core
    )
    r = json.loads(done.stdout.strip().splitlines()[-1])
    wall, cpu_s = statistics.median(r["wall_s"]), statistics.median(r["cpu_s"])
    hours = r["samples"] / RATE_HZ / 3600
    print(
        f"input: mixed_day seed {args.seed}, {hours:.1f} h at {RATE_HZ:.0f} Hz = "
        f"{r['samples'] / 1e6:.2f} M samples; child pinned to CPU {r['cpu']}, 1 BLAS thread"
    )
    print()
    print(f"{'measure':<40} {'value':>12}  target")
    verdict = "meets" if wall <= TIME_TARGET_S else "MISSES"
    runs = ", ".join(f"{w:.2f}" for w in r["wall_s"])
    print(f"{'analyze wall, median of ' + str(len(r['wall_s'])):<40} {wall:>10.2f} s  "
          f"<= {TIME_TARGET_S:.0f} s ({verdict}); runs: {runs}")  # fmt: skip
    runs = ", ".join(f"{c:.2f}" for c in r["cpu_s"])
    verdict = "meets" if cpu_s <= TIME_TARGET_S else "MISSES"
    print(f"{'analyze CPU (process time), median':<40} {cpu_s:>10.2f} s  "
          f"<= {TIME_TARGET_S:.0f} s ({verdict}); runs: {runs}")  # fmt: skip
    print(f"{'x real time':<40} {hours * 3600 / wall:>12,.0f}")
    verdict = "meets" if r["rss_peak_gb"] <= MEMORY_TARGET_GB else "MISSES"
    print(f"{'peak RSS (VmHWM)':<40} {r['rss_peak_gb']:>9.2f} GB  "
          f"<= {MEMORY_TARGET_GB:.0f} GB ({verdict})")  # fmt: skip
    print(f"{'  peak RSS after loading, before runs':<40} {r['rss_before_gb']:>9.2f} GB")
    print(f"{'  = analysis working memory':<40} "
          f"{r['rss_peak_gb'] - r['rss_before_gb']:>9.2f} GB")  # fmt: skip
    print(f"{'strides found / matched truth / truth':<40} "
          f"{r['strides']:>5} / {r['matched']} / {r['truth']}   ({r['bouts']} bouts)")  # fmt: skip


if __name__ == "__main__":
    main()
