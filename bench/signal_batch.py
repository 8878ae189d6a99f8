"""Batch pipeline on the real gaitmap recording: dorsi vs gaitmap, warm, same process; cold start.

Prints (asserts nothing):

1. ``warm``: `dorsi.signal.analyze` on both feet of ``shared/data/gaitmap_example`` (38.7 s at
   204.8 Hz per foot), after one untimed run, ``--repeats`` times; median and min wall time.
2. the same file through gaitmap's own pipeline in the same process (Barth DTW stride
   segmentation → Rampp event detection → stride-level RTS-Kalman trajectory → temporal and
   spatial parameters, as in gaitmap's example pipeline), first run (numba compilation), then
   ``--repeats`` warm runs, each paired with 5 dorsi runs right next to it (median of the 5), so
   both see the same load on a shared machine; the ratio is the median of the per-pair ratios,
   with its range (target: dorsi ≥ 20× faster). gaitmap's stride count is that of its
   ``min_vel_event_list_`` (strides between two mid-stances). gaitmap is an *optional*
   benchmark-only dependency (its gaitmap_mad part is AGPL): without it this part is skipped
   with a message. See bench/README.md for how to install it into a separate venv.
3. ``cold``: fresh interpreters (``--cold-repeats``) timing ``import dorsi.signal`` + the first
   `analyze` of both feet (target ≤ 2 s); the subprocess wall time (interpreter start, imports,
   CSV load, first run) is printed too.

Both pipelines get the data already in memory (CSV parsing and DataFrame building are not
timed). Threads of numpy's BLAS are set to 1 (neither pipeline uses them much).

Usage: ``.venv/bin/python bench/signal_batch.py [--repeats 9] [--cold-repeats 3]``
(with gaitmap: ``/tmp/gaitmap-venv/bin/python bench/signal_batch.py``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Literal  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gaitmap_example" / "imu_sample.csv"
RATE_HZ = 204.8
SIDES = ("left", "right")
AXES = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
WARM_RATIO_TARGET = 20.0
COLD_TARGET_S = 2.0

FloatArray = NDArray[np.float64]


def load_feet(path: Path = DATA) -> dict[str, FloatArray]:
    """Both feet of the recording as (n, 6) arrays: acc (m/s²) then gyro (deg/s), body frame."""
    with path.open() as fh:
        sensors = fh.readline().strip().split(",")
        axes = fh.readline().strip().split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=2)
    out = {}
    for side in SIDES:
        col = {
            a: i
            for i, (s, a) in enumerate(zip(sensors, axes, strict=True))
            if s == f"{side}_sensor"
        }
        out[side] = table[:, [col[a] for a in AXES]]
    return out


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def dorsi_runner(feet: dict[str, FloatArray]) -> Callable[[], int]:
    from dorsi.signal import analyze

    def run() -> int:
        n = 0
        for side, x in feet.items():
            foot: Literal["left", "right"] = "left" if side == "left" else "right"
            n += len(analyze(x[:, :3], x[:, 3:], sampling_rate_hz=RATE_HZ, side=foot).strides)
        return n

    return run


def gaitmap_runner(feet: dict[str, FloatArray]) -> Callable[[], int] | None:
    """gaitmap's example pipeline (public API calls only), or None when gaitmap is missing."""
    if (
        importlib.util.find_spec("gaitmap") is None
        or importlib.util.find_spec("gaitmap_mad") is None
    ):
        return None
    import pandas as pd
    from gaitmap.event_detection import RamppEventDetection
    from gaitmap.parameters import SpatialParameterCalculation, TemporalParameterCalculation
    from gaitmap.stride_segmentation import BarthDtw
    from gaitmap.trajectory_reconstruction import RtsKalman, StrideLevelTrajectory
    from gaitmap.utils.coordinate_conversion import convert_to_fbf

    # The recording is already in gaitmap's aligned sensor frame (same axes as dorsi's body frame).
    data_sf = {f"{side}_sensor": pd.DataFrame(x, columns=list(AXES)) for side, x in feet.items()}

    def run() -> int:
        data_bf = convert_to_fbf(data_sf, left_like="left_", right_like="right_")
        dtw = BarthDtw().segment(data=data_bf, sampling_rate_hz=RATE_HZ)
        ed = RamppEventDetection().detect(
            data=data_bf, stride_list=dtw.stride_list_, sampling_rate_hz=RATE_HZ
        )
        events = ed.min_vel_event_list_
        traj = StrideLevelTrajectory(
            ori_method=None, pos_method=None, trajectory_method=RtsKalman()
        ).estimate(data=data_sf, stride_event_list=events, sampling_rate_hz=RATE_HZ)
        TemporalParameterCalculation().calculate(stride_event_list=events, sampling_rate_hz=RATE_HZ)
        SpatialParameterCalculation().calculate(
            stride_event_list=events,
            positions=traj.position_,
            orientations=traj.orientation_,
            sampling_rate_hz=RATE_HZ,
        )
        return sum(len(v) for v in events.values())

    return run


_COLD_CHILD = """
import time
t0 = time.perf_counter()
import dorsi.signal
t1 = time.perf_counter()
import json, sys
sys.path.insert(0, {bench!r})
from signal_batch import load_feet, RATE_HZ
feet = load_feet()
t2 = time.perf_counter()
for side, x in feet.items():
    dorsi.signal.analyze(x[:, :3], x[:, 3:], sampling_rate_hz=RATE_HZ, side=side)
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_s": t3 - t2}}))
"""


def cold_start(repeats: int) -> list[dict[str, float]]:
    code = _COLD_CHILD.format(bench=str(Path(__file__).resolve().parent))
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - t0
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["wall_s"] = wall
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cold-repeats", type=int, default=3)
    args = parser.parse_args()

    feet = load_feet()
    seconds = sum(x.shape[0] for x in feet.values()) / RATE_HZ
    print(f"input: {DATA.name}, both feet, {seconds:.1f} s of data at {RATE_HZ} Hz")

    ours = dorsi_runner(feet)
    n_ours = ours()  # warm-up
    t_ours = timed(ours, args.repeats)
    med_ours = statistics.median(t_ours)
    print()
    print(
        f"{'pipeline':<34} {'strides':>7} {'first s':>8} {'median s':>9} {'min s':>7} "
        f"{'x real time':>12}"
    )
    print(
        f"{'dorsi.signal.analyze':<34} {n_ours:>7} {'':>8} {med_ours:>9.4f} {min(t_ours):>7.4f} "
        f"{seconds / med_ours:>12,.0f}"
    )

    theirs = gaitmap_runner(feet)
    if theirs is None:
        print(
            "gaitmap pipeline: SKIPPED - gaitmap / gaitmap_mad not importable in this interpreter "
            f"({sys.executable}); ratio not available. Install the optional benchmark "
            "dependency into a separate venv (bench/README.md) and run the bench with it."
        )
    else:
        t_first = timed(theirs, 1)[0]
        n_theirs = theirs()
        # Interleaved: each gaitmap run is paired with dorsi runs right next to it, so both see
        # the same load on a shared machine; the ratio is taken per pair.
        pairs = [
            (timed(theirs, 1)[0], statistics.median(timed(ours, 5))) for _ in range(args.repeats)
        ]
        t_theirs = [t for t, _ in pairs]
        med_theirs = statistics.median(t_theirs)
        print(
            f"{'gaitmap (DTW+Rampp+RTS-Kalman)':<34} {n_theirs:>7} {t_first:>8.2f} "
            f"{med_theirs:>9.4f} {min(t_theirs):>7.4f} {seconds / med_theirs:>12,.0f}"
        )
        med_paired = statistics.median(o for _, o in pairs)
        print(
            f"{'dorsi, next to each gaitmap run':<34} {n_ours:>7} {'':>8} {med_paired:>9.4f} "
            f"{min(o for _, o in pairs):>7.4f} {seconds / med_paired:>12,.0f}"
        )
        ratios = sorted(t / o for t, o in pairs)
        ratio = statistics.median(ratios)
        verdict = "meets" if ratio >= WARM_RATIO_TARGET else "MISSES"
        print(
            f"\nwarm ratio gaitmap / dorsi, median of {len(pairs)} interleaved pairs: {ratio:.1f}x "
            f"(range {ratios[0]:.1f}-{ratios[-1]:.1f}x; {verdict} target >= "
            f"{WARM_RATIO_TARGET:.0f}x)"
        )

    rows = cold_start(args.cold_repeats)
    print(f"\ncold start, {len(rows)} fresh interpreters (median; per run in brackets):")
    for key, label in (
        ("import_s", "import dorsi.signal"),
        ("first_s", "first analyze, both feet"),
    ):
        vals = [r[key] for r in rows]
        print(f"  {label:<34} {statistics.median(vals):7.3f} s  {[round(v, 3) for v in vals]}")
    total = [r["import_s"] + r["first_s"] for r in rows]
    verdict = "meets" if statistics.median(total) <= COLD_TARGET_S else "MISSES"
    print(
        f"  {'import + first analyze':<34} {statistics.median(total):7.3f} s  "
        f"({verdict} target <= {COLD_TARGET_S:.0f} s)"
    )
    wall = [r["wall_s"] for r in rows]
    print(
        f"  {'subprocess wall (+ start, CSV)':<34} {statistics.median(wall):7.3f} s  "
        f"{[round(v, 3) for v in wall]}"
    )


if __name__ == "__main__":
    main()
