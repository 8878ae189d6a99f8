"""Print the accuracy figures of docs/signal_status.md.

Run from the repo root: `.venv/bin/python tests/signal/report_accuracy.py`.

Not a test module: it reuses the mocap reference of `signal_reference.py` and prints per-foot and
pooled statistics for the body frame and for random mountings up to 30° (`frame="sensor"`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from signal_reference import IMU_RATE_HZ, SIDES, Errors, compare, load_recording

from dorsi.signal import analyze
from dorsi.signal.quaternion import from_rotvec, to_matrix

COLUMNS = (
    ("ic_ms", "IC (ms)"),
    ("to_ms", "TO (ms)"),
    ("stride_time_ms", "stride time (ms)"),
    ("stride_length_cm", "stride length (cm)"),
    ("foot_strike_angle_deg", "foot strike angle (°)"),
    ("toe_off_angle_deg", "toe-off angle (°)"),
)


def _row(label: str, errors: list[Errors]) -> str:
    cells = []
    for name, _ in COLUMNS:
        e = np.concatenate([getattr(x, name) for x in errors])
        cells.append(f"{np.mean(e):+.1f} ± {np.std(e, ddof=1):.1f} ({np.mean(np.abs(e)):.1f})")
    found = sum(x.matched + len(x.split) for x in errors)
    total = sum(x.n_reference for x in errors)
    extra = sum(len(x.extra) for x in errors)
    split = sum(len(x.split) for x in errors)
    return (
        f"| {label} | {found}/{total} (split {split}, extra {extra}) | " + " | ".join(cells) + " |"
    )


def main() -> None:
    header = "| input | strides found | " + " | ".join(c[1] for c in COLUMNS) + " |"
    print(header)
    print("|" + "---|" * (len(COLUMNS) + 2))
    recs = {side: load_recording(side) for side in SIDES}
    body = {}
    for side, rec in recs.items():
        res = analyze(rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=IMU_RATE_HZ)
        body[side] = compare(res.strides, rec)
        print(_row(f"body, {side}", [body[side]]))
    print(_row("body, pooled", list(body.values())))
    rng = np.random.default_rng(2026)
    rotated: list[Errors] = []
    for rec in recs.values():
        for _ in range(10):
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            rot = to_matrix(from_rotvec(axis * np.radians(rng.uniform(0.0, 30.0))))
            res = analyze(
                rec.acc_mps2 @ rot.T,
                rec.gyr_dps @ rot.T,
                sampling_rate_hz=IMU_RATE_HZ,
                frame="sensor",
            )
            rotated.append(compare(res.strides, rec))
    print(_row("sensor, 20 random mountings ≤ 30°, pooled", rotated))


if __name__ == "__main__":
    main()
