"""CSV files of simulated recordings: ``imu.csv`` (samples) and ``truth.csv`` (strides).

``imu.csv`` header is exactly ``t,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z``: t in s, acceleration
(specific force) in m/s², angular velocity in deg/s, in the sensor frame (the body-aligned foot
frame when there is no mounting rotation).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path
from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from .truth import TRUTH_COLUMNS, StrideTruth

Array = NDArray[np.float64]
IMU_COLUMNS: tuple[str, ...] = ("t", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
IMU_HEADER = ",".join(IMU_COLUMNS)
TRUTH_HEADER = ",".join(TRUTH_COLUMNS)
_IMU_ROW_FMT = ",".join(["%.6f"] + ["%.4f"] * 3 + ["%.3f"] * 3) + "\n"


def write_imu_header(fh: TextIO) -> None:
    """Start an ``imu.csv`` stream."""
    fh.write(IMU_HEADER + "\n")


def append_imu_rows(fh: TextIO, t: Array, acc_mps2: Array, gyr_dps: Array) -> None:
    """Append samples (t (n,), acc (n,3), gyr (n,3)) to an ``imu.csv`` stream."""
    rows = np.column_stack([t, acc_mps2, gyr_dps])
    fh.write((_IMU_ROW_FMT * rows.shape[0]) % tuple(rows.ravel().tolist()))


def write_truth_csv(path: Path, strides: Iterable[StrideTruth]) -> None:
    """Write ``truth.csv``: one row per stride, columns TRUTH_COLUMNS."""
    with path.open("w", newline="") as fh:
        fh.write(TRUTH_HEADER + "\n")
        for s in strides:
            row = astuple(s)
            fh.write(",".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + "\n")


def read_imu_csv(path: str | Path) -> tuple[Array, Array, Array]:
    """Read an ``imu.csv``; returns t (n,) s, acc (n,3) m/s², gyr (n,3) deg/s.

    Raises:
        ValueError: the header is not exactly IMU_HEADER, a row has the wrong number of
            fields or a non-numeric value, or the time stamps are not strictly increasing.
    """
    path = Path(path)
    with path.open() as fh:
        header = fh.readline().strip()
        if header != IMU_HEADER:
            raise ValueError(f"{path}: header must be {IMU_HEADER!r}, got {header!r}")
        try:
            data = np.loadtxt(fh, delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"{path}: malformed IMU row: {exc}") from exc
    if data.size == 0:
        data = np.empty((0, len(IMU_COLUMNS)))
    if data.shape[1] != len(IMU_COLUMNS):
        raise ValueError(f"{path}: expected {len(IMU_COLUMNS)} columns, got {data.shape[1]}")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: non-finite values")
    t = data[:, 0]
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{path}: time stamps must be strictly increasing")
    return t, data[:, 1:4], data[:, 4:7]


def read_truth_csv(path: str | Path) -> list[StrideTruth]:
    """Read a ``truth.csv`` back into StrideTruth rows (ValueError on a bad header or row)."""
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if tuple(header) != TRUTH_COLUMNS:
            raise ValueError(f"{path}: header must be {TRUTH_HEADER!r}, got {','.join(header)!r}")
        out = []
        for lineno, row in enumerate(reader, start=2):
            if len(row) != len(TRUTH_COLUMNS):
                raise ValueError(f"{path}:{lineno}: expected {len(TRUTH_COLUMNS)} fields")
            try:
                v = [float(x) for x in row[:-2]]
                slap, drag = int(row[-2]), int(row[-1])
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc
            out.append(StrideTruth(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], slap, drag))
    return out
