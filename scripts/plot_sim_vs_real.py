#!/usr/bin/env python3
"""Draw ``docs/img/sim_vs_real.png``: a few strides of the real recording beside the simulator.

Real: left foot of the gaitmap example recording (``../shared/data/gaitmap_example``, 204.8 Hz),
straight walking. Simulated: ``simulate("healthy", rate_hz=204.8, side="left")`` with the real
sensor's tilt on the shoe (estimated from mid-stance gravity) as its mounting rotation, so both
show the same frame. All six axes (acc m/s², gyro deg/s); dashed lines mark initial contacts (IC),
dotted lines toe-offs (TO). With ``--scenario`` another scenario is drawn on the right.

Run from the repo root: ``.venv/bin/python scripts/plot_sim_vs_real.py``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dorsi.firmware_protocol.sim import simulate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gaitmap_example"
RATE_HZ = 204.8
AXES = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
UNITS = ("m/s²",) * 3 + ("deg/s",) * 3


def real_window(
    data: Path, seconds: float
) -> tuple[np.ndarray, np.ndarray, list[float], list[float], tuple[float, float, float]]:
    """Left foot samples (t, (n,6)) from the 4th stride's IC on, IC and TO times, sensor tilt.

    The tilt is the (roll, pitch, 0) mounting rotation (deg) that puts the recording's
    mid-stance gravity where it is: the real sensor is not quite level on the shoe.
    """
    with (data / "imu_sample.csv").open() as fh:
        rows = list(csv.reader(fh))
    sensors, axes = rows[0], rows[1]
    cols = [next(i for i in range(1, len(axes)) if sensors[i] == "left_sensor" and axes[i] == a)
            for a in AXES]  # fmt: skip
    x = np.array(rows[2:], dtype=float)[:, cols]
    with (data / "stride_events_sample.csv").open() as fh:
        ev = [r for r in csv.DictReader(fh) if r["foot"] == "left"]
    i0 = int(float(ev[3]["pre_ic"])) - int(0.3 * RATE_HZ)
    i1 = i0 + int(seconds * RATE_HZ)
    t = np.arange(i0, i1) / RATE_HZ
    ics = [float(r["ic"]) / RATE_HZ for r in ev]
    tos = [float(r["tc"]) / RATE_HZ for r in ev]
    still = np.concatenate(
        [x[int(float(r["start"])) - 5 : int(float(r["start"])) + 5, :3] for r in ev]
    )
    g = still.mean(axis=0) / np.linalg.norm(still.mean(axis=0))
    tilt = (float(np.degrees(np.arctan2(g[1], g[2]))), float(-np.degrees(np.arcsin(g[0]))), 0.0)
    return t - t[0], x[i0:i1], [v - t[0] for v in ics], [v - t[0] for v in tos], tilt


def main() -> None:
    parser = argparse.ArgumentParser(description="Real vs simulated foot-IMU strides.")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "sim_vs_real.png")
    parser.add_argument("--scenario", default="healthy")
    parser.add_argument("--seconds", type=float, default=4.6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    t_r, x_r, ic_r, to_r, tilt = real_window(args.data, args.seconds)
    rec = simulate(
        args.scenario, seconds=60.0, rate_hz=RATE_HZ, side="left", seed=args.seed,
        mounting_rotation_deg=tilt,
    )  # fmt: skip
    s0 = rec.strides[4]
    a = int((s0.ic_t - 0.3) * RATE_HZ)
    n = int(args.seconds * RATE_HZ)
    t_s = rec.t[a : a + n] - rec.t[a]
    x_s = np.column_stack([rec.acc_mps2, rec.gyr_dps])[a : a + n]
    ic_s = [s.ic_t - rec.t[a] for s in rec.strides]
    to_s = [s.to_t - rec.t[a] for s in rec.strides]

    fig, ax = plt.subplots(6, 2, figsize=(14, 13), sharex=True)
    panels = (
        ("real (gaitmap example, left foot)", t_r, x_r, ic_r, to_r),
        (
            f"simulated ({args.scenario}, left foot, real sensor tilt "
            f"roll {tilt[0]:.0f}°, pitch {tilt[1]:.0f}°)",
            t_s,
            x_s,
            ic_s,
            to_s,
        ),
    )
    for col, (title, t, x, ics, tos) in enumerate(panels):
        ax[0, col].set_title(title)
        for i in range(6):
            ax[i, col].plot(t, x[:, i], color="tab:blue" if i < 3 else "tab:red", lw=0.9)
            ax[i, col].set_ylabel(f"{AXES[i]} ({UNITS[i]})")
            for v in ics:
                if 0 <= v <= t[-1]:
                    ax[i, col].axvline(v, color="k", ls="--", lw=0.6)
            for v in tos:
                if 0 <= v <= t[-1]:
                    ax[i, col].axvline(v, color="g", ls=":", lw=0.8)
        ax[5, col].set_xlabel("time (s)")
    for i in range(6):  # same y-range left and right
        lo = min(ax[i, 0].get_ylim()[0], ax[i, 1].get_ylim()[0])
        hi = max(ax[i, 0].get_ylim()[1], ax[i, 1].get_ylim()[1])
        ax[i, 0].set_ylim(lo, hi)
        ax[i, 1].set_ylim(lo, hi)
    fig.suptitle("Real vs simulated foot IMU, body-aligned frame (IC dashed, TO dotted)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(args.out)


if __name__ == "__main__":
    main()
