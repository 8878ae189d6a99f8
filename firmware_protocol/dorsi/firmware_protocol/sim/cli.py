"""``dorsi-sensor simulate``: write a simulated foot-IMU recording and its stride truth as CSV."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .io import append_imu_rows, write_imu_header, write_truth_csv
from .scenarios import SCENARIOS
from .synth import RATE_LIMITS_HZ, SIDES, SimConfig, Synthesizer

PROGRESS_ABOVE_S = 600.0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    lo, hi = RATE_LIMITS_HZ
    if not (math.isfinite(value) and lo <= value <= hi):
        raise argparse.ArgumentTypeError(f"must be within {lo:g}..{hi:g} Hz, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {text!r}")
    return value


def _mounting(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected R,P,Y in degrees, got {text!r}") from None
    if len(values) != 3 or not all(math.isfinite(v) and abs(v) <= 180 for v in values):
        raise argparse.ArgumentTypeError(f"expected 3 angles R,P,Y within ±180°, got {text!r}")
    return values[0], values[1], values[2]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``simulate`` subcommand."""
    p = subparsers.add_parser(
        "simulate",
        help="write a simulated foot-IMU recording (imu.csv) and its stride truth (truth.csv)",
        description=(
            "Simulate a foot-IMU recording from a brace sensor (body-aligned frame: x toward "
            "the toes, y to the foot's left, z up; acc in m/s², gyro in deg/s) and write "
            "DIR/imu.csv (t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z) and DIR/truth.csv (one row "
            "per stride)."
        ),
    )
    p.add_argument("--scenario", choices=SCENARIOS, default="footdrop_mild",
                   help="walking pattern (default: %(default)s)")  # fmt: skip
    p.add_argument("--seconds", type=_positive_seconds, default=60.0,
                   help="duration in s (default: %(default)s)")  # fmt: skip
    p.add_argument("--rate", type=_rate, default=104.0,
                   help="sample rate in Hz, e.g. 52, 104, 208 (default: %(default)s)")  # fmt: skip
    p.add_argument("--side", choices=SIDES, default="left",
                   help="which foot (default: %(default)s)")  # fmt: skip
    p.add_argument("--seed", type=_seed, default=0,
                   help="random seed; same seed, same files (default: %(default)s)")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder (created if missing)")  # fmt: skip
    p.add_argument(
        "--mounting-rotation", type=_mounting, default=None, metavar="R,P,Y",
        help="sensor rotation from the body-aligned frame, degrees (Rz(Y)·Ry(P)·Rx(R))",
    )  # fmt: skip
    p.add_argument("--no-noise", action="store_true", help="no sensor noise or bias")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Simulate and write the two files; returns the exit code."""
    try:
        cfg = SimConfig(
            scenario=args.scenario,
            seconds=args.seconds,
            rate_hz=args.rate,
            side=args.side,
            seed=args.seed,
            mounting_rotation_deg=args.mounting_rotation,
            noise=not args.no_noise,
        )
    except ValueError as exc:
        print(f"dorsi-sensor simulate: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        synth = Synthesizer(cfg)
        imu_path, truth_path = out / "imu.csv", out / "truth.csv"
        with imu_path.open("w", newline="") as fh:
            write_imu_header(fh)
            for chunk in synth.chunks(progress=cfg.seconds > PROGRESS_ABOVE_S):
                append_imu_rows(fh, chunk.t, chunk.acc_mps2, chunk.gyr_dps)
        write_truth_csv(truth_path, synth.strides)
    except OSError as exc:
        print(f"dorsi-sensor simulate: cannot write to {out}: {exc}", file=sys.stderr)
        return 1
    print(
        f"{imu_path}: {cfg.n_samples} samples at {cfg.rate_hz:g} Hz ({cfg.scenario}, "
        f"{cfg.side} foot); {truth_path}: {len(synth.strides)} strides"
    )
    return 0
