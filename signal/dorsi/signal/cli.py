"""`dorsi-signal analyze INPUT.csv --out STRIDES.csv`: the only module of dorsi.signal with I/O.

INPUT has the header `t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z` (t in s, m/s², deg/s). Missing
samples (time steps longer than 1.5 sample periods) become gaps; strides never span them.
`--frame sensor` (default) estimates the mounting first; `--frame body` means the data are
already in the body frame (docs/frames.md).
"""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dorsi.signal.errors import (
    InputShapeError,
    NonMonotonicTimeError,
    SamplingRateError,
    SignalError,
)
from dorsi.signal.metrics import STRIDE_FIELDS
from dorsi.signal.pipeline import GaitAnalysis, analyze

__all__ = ["main", "read_imu_csv", "to_uniform_grid"]

FloatArray = NDArray[np.float64]
INPUT_COLUMNS = ("t", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
EXIT_BAD_INPUT = 2
RATE_MISMATCH = 0.1
"""Largest relative difference between --rate and the rate implied by the time column."""


def read_imu_csv(path: Path) -> FloatArray:
    """(n, 7) table t, acc xyz, gyr xyz from a CSV with the `INPUT_COLUMNS` header."""
    with path.open(newline="") as fh:
        header = [c.strip() for c in fh.readline().strip().split(",")]
    if tuple(header) != INPUT_COLUMNS:
        raise InputShapeError(
            f"{path}: header must be {','.join(INPUT_COLUMNS)}, got {','.join(header)}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty file: handled below
            table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise InputShapeError(f"{path}: not a numeric CSV: {exc}") from exc
    if table.shape[0] and table.shape[1] != len(INPUT_COLUMNS):
        raise InputShapeError(f"{path}: expected {len(INPUT_COLUMNS)} columns")
    return table.reshape(-1, len(INPUT_COLUMNS))


def to_uniform_grid(
    t_s: FloatArray, values: FloatArray, rate_hz: float | None
) -> tuple[FloatArray, float]:
    """Place samples on a uniform grid (rate from the median step unless given); gaps → NaN.

    Raises:
        NonMonotonicTimeError: time goes backwards or two samples fall on one grid slot.
        SamplingRateError: `rate_hz` differs from the time column's median rate by > 10 %.
    """
    if t_s.shape[0] < 2:
        raise InputShapeError("need at least two samples")
    steps = np.diff(t_s)
    if not np.all(np.isfinite(t_s)) or np.any(steps <= 0):
        bad = int(np.flatnonzero(~(steps > 0))[0]) + 1 if np.any(steps <= 0) else 0
        raise NonMonotonicTimeError(
            f"time must increase strictly (row {bad + 2} of the file); sort or deduplicate it"
        )
    median_rate = float(1.0 / np.median(steps))
    rate = float(rate_hz) if rate_hz else median_rate
    if abs(rate / median_rate - 1.0) > RATE_MISMATCH:
        raise SamplingRateError(
            f"--rate {rate:g} Hz does not match the time column (median step →"
            f" {median_rate:.4g} Hz); fix --rate or the time unit (seconds)"
        )
    slot = np.round((t_s - t_s[0]) * rate).astype(np.int64)
    if np.any(np.diff(slot) <= 0):
        raise NonMonotonicTimeError(
            f"samples closer than one period at {rate:g} Hz; check --rate or the time column"
        )
    grid = np.full((int(slot[-1]) + 1, values.shape[1]), np.nan)
    grid[slot] = values
    return grid, rate


def write_strides_csv(path: Path, analysis: GaitAnalysis) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(STRIDE_FIELDS))
        writer.writeheader()
        for rec in analysis.to_records():
            writer.writerow({k: "" if v is None else v for k, v in rec.items()})


def _progress_bar(total: int) -> tuple[Callable[[float], None], Callable[[], None]]:
    try:
        from tqdm import tqdm
    except ImportError:  # optional dependency (extra "cli")
        return (lambda _fraction: None), (lambda: None)
    bar = tqdm(total=total, unit="sample", unit_scale=True, desc="analysing", leave=False)

    def update(fraction: float) -> None:
        bar.update(round(fraction * total) - bar.n)

    return update, bar.close


def plot_analysis(path: Path, t_s: FloatArray, gyr_dps: FloatArray, analysis: GaitAnalysis) -> None:
    """Pitch, gyr_y and events (IC, TO) with slap and drag marks, for a person to check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_pitch, ax_gyr) = plt.subplots(2, 1, sharex=True, figsize=(14, 6))
    ax_pitch.plot(t_s, analysis.pitch_deg, lw=0.8, color="tab:blue")
    ax_pitch.set_ylabel("foot pitch (deg, vs foot-flat)")
    ax_gyr.plot(t_s, gyr_dps[:, 1], lw=0.6, color="0.3")
    ax_gyr.set_ylabel("gyr_y (deg/s, body)")
    ax_gyr.set_xlabel("time (s)")
    for s in analysis.strides:
        ax_gyr.axvline(s.ic_t, color="tab:green", lw=0.6)
        ax_gyr.axvline(s.to_t, color="tab:orange", lw=0.6, ls="--")
        if s.foot_slap:
            ax_pitch.plot(s.ic_t, 0.0, "v", color="tab:red", ms=8)
        if s.toe_drag:
            ax_pitch.plot(0.5 * (s.to_t + s.next_ic_t), 0.0, "x", color="tab:purple", ms=8)
    ax_gyr.plot([], [], color="tab:green", label="IC")
    ax_gyr.plot([], [], color="tab:orange", ls="--", label="TO")
    ax_pitch.plot([], [], "v", color="tab:red", label="foot slap")
    ax_pitch.plot([], [], "x", color="tab:purple", label="toe drag")
    ax_gyr.legend(loc="upper right")
    ax_pitch.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _analyze_command(args: argparse.Namespace) -> int:
    table = read_imu_csv(Path(args.input))
    grid, rate = to_uniform_grid(table[:, 0], table[:, 1:], args.rate)
    update, close = _progress_bar(grid.shape[0])
    try:
        result = analyze(
            grid[:, :3],
            grid[:, 3:],
            sampling_rate_hz=rate,
            frame=args.frame,
            side=args.side,
            t0_s=float(table[0, 0]),
            progress=update,
        )
    finally:
        close()
    write_strides_csv(Path(args.out), result)
    if args.plot:
        t_grid = table[0, 0] + np.arange(grid.shape[0]) / rate
        gyr = grid[:, 3:]
        if result.alignment is not None:
            gyr = gyr @ result.alignment.rotation.T
        plot_analysis(Path(args.plot), t_grid, gyr, result)
    msg = f"{len(result.strides)} strides in {len(result.bouts)} bouts at {rate:g} Hz"
    if result.alignment is not None:
        a = result.alignment
        msg += (
            f"; mounting: {a.rotation_angle_deg:.1f}° from sensor axes,"
            f" tilt {a.tilt_deg:.1f}°, confidence {a.confidence:.2f}"
        )
    print(msg)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dorsi-signal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("analyze", help="strides and per-stride metrics of one foot's recording")
    p.add_argument("input", help="CSV: t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z (s, m/s², deg/s)")
    p.add_argument("--out", required=True, help="strides CSV to write")
    p.add_argument("--rate", type=float, default=None, help="sampling rate, Hz (default: from t)")
    p.add_argument("--side", choices=("left", "right"), default=None)
    p.add_argument("--frame", choices=("body", "sensor"), default="sensor")
    p.add_argument("--plot", default=None, help="PNG with pitch, gyro and events")
    args = parser.parse_args(argv)
    try:
        return _analyze_command(args)
    except (SignalError, OSError) as exc:
        print(f"dorsi-signal: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
