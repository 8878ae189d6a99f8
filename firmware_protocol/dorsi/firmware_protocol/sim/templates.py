"""The real-data stride template: one healthy mid-stance → mid-stance cycle, time-normalised.

Derived by ``scripts/build_stride_templates.py`` from the gaitmap example recording (MIT licence;
one healthy adult, IMU on the lateral side of the shoe, mocap reference) and shipped as
``stride_template.json``. Left-foot convention, body-aligned foot frame (x toward the toes, y to
the foot's left, z up when flat); orientation as Euler angles with
``R_world_foot = Rz(yaw) @ Ry(−pitch) @ Rx(roll)`` (pitch > 0 = toes above heel).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import CubicSpline

Array = NDArray[np.float64]
TEMPLATE_FILE = "stride_template.json"


@dataclass(frozen=True)
class StrideTemplate:
    """Averaged healthy stride cycle on a phase grid 0..1 (0 and 1 = mid-stance, foot flat).

    ``channels`` columns: roll, pitch, yaw (deg), heel x, y, z (m; x along the direction of
    travel, relative to the heel at phase 0). Event phases: toe-off, initial contact, foot-flat.
    """

    phase: Array
    channels: Array
    stride_time_s: float
    stride_length_m: float
    phase_to: float
    phase_ic: float
    phase_ff: float
    spline: CubicSpline = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.channels.shape != (self.phase.size, 6):
            raise ValueError(f"template channels must be ({self.phase.size}, 6)")
        if not 0.0 < self.phase_to < self.phase_ic < self.phase_ff < 1.0:
            raise ValueError("template event phases must satisfy 0 < TO < IC < FF < 1")
        object.__setattr__(self, "spline", CubicSpline(self.phase, self.channels, axis=0))

    def evaluate(self, phase: Array, nu: int = 0) -> Array:
        """Channels (or their ``nu``-th derivative per unit phase) at ``phase``; shape (n, 6)."""
        out: Array = self.spline(np.clip(phase, 0.0, 1.0), nu)
        return out

    def pitch_at(self, phase: float) -> float:
        """Template foot pitch (deg) at one phase."""
        return float(self.evaluate(np.array([phase]))[0, 1])


@lru_cache(maxsize=1)
def load_template() -> StrideTemplate:
    """Load the packaged healthy stride template (cached)."""
    text = resources.files(__package__).joinpath(TEMPLATE_FILE).read_text()
    raw = json.loads(text)
    cols = ("roll_deg", "pitch_deg", "yaw_deg", "heel_x_m", "heel_y_m", "heel_z_m")
    return StrideTemplate(
        phase=np.asarray(raw["phase"], dtype=np.float64),
        channels=np.stack([np.asarray(raw[c], dtype=np.float64) for c in cols], axis=1),
        stride_time_s=float(raw["stride_time_s"]),
        stride_length_m=float(raw["stride_length_m"]),
        phase_to=float(raw["phase_to"]),
        phase_ic=float(raw["phase_ic"]),
        phase_ff=float(raw["phase_ff"]),
    )
