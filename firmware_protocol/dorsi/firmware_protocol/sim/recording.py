"""A simulated foot-IMU recording with its ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .io import append_imu_rows, write_imu_header, write_truth_csv
from .truth import StrideTruth

Array = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class SimulatedRecording:
    """Samples and truth of one simulation.

    ``t`` (N,) s from 0; ``acc_mps2`` (N,3) specific force in m/s² and ``gyr_dps`` (N,3) in deg/s,
    both in the sensor frame (the body-aligned foot frame unless ``mounting_rotation_deg`` is
    set); ``pitch_deg`` (N,) the modelled foot pitch relative to foot-flat (> 0 toes up);
    ``strides`` the per-stride truth. (While the brace is off, ``pitch_deg`` is the pitch of the
    sensor lying on the shelf, not a foot angle.) With ``keep_kinematics``: ``euler_deg``
    (N,3: roll, pitch, yaw of the foot, deg) and ``sensor_pos_m`` (N,3, world, z up),
    noise-free and unfiltered.
    """

    scenario: str
    side: str
    rate_hz: float
    seed: int
    mounting_rotation_deg: tuple[float, float, float] | None
    t: Array
    acc_mps2: Array
    gyr_dps: Array
    pitch_deg: Array
    strides: list[StrideTruth]
    euler_deg: Array | None = None
    sensor_pos_m: Array | None = None

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``imu.csv`` and ``truth.csv`` into ``out_dir`` (created); returns both paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        imu_path, truth_path = out / "imu.csv", out / "truth.csv"
        with imu_path.open("w", newline="") as fh:
            write_imu_header(fh)
            append_imu_rows(fh, self.t, self.acc_mps2, self.gyr_dps)
        write_truth_csv(truth_path, self.strides)
        return imu_path, truth_path
