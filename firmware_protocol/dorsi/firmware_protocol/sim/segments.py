"""Non-walking pieces of a simulated day: holding a pose, and moving between poses.

Every segment maps times (s) to foot Euler angles (n,3: roll, pitch, yaw deg) and a heel
position (n,3 m, world); consecutive segments join continuously (the plan ensures this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .kinematics import smootherstep

Array = NDArray[np.float64]
SWAY_RAMP_S = 1.0
SWAY_GRID_HZ = 100.0


class Segment(Protocol):
    """A time interval of the foot's motion."""

    @property
    def t0_s(self) -> float:
        """Start (s)."""
        ...

    @property
    def t1_s(self) -> float:
        """End (s)."""
        ...

    def evaluate(self, t: Array) -> tuple[Array, Array]:
        """Euler angles (n,3 deg) and heel position (n,3 m) at times t (s)."""
        ...


@dataclass(frozen=True)
class Pose:
    """A foot pose: Euler angles (roll, pitch, yaw; deg) and heel position (x, y, z; m)."""

    euler_deg: tuple[float, float, float]
    pos_m: tuple[float, float, float]


@dataclass(frozen=True)
class Hold:
    """Keep a pose, with a small postural sway (standing, sitting) or none (brace off).

    ``sway_deg``/``sway_m`` are amplitudes of a few slow (0.1–0.7 Hz) sinusoids, faded in and
    out over ``SWAY_RAMP_S`` so the segment starts and ends exactly at ``pose``.
    """

    t0_s: float
    t1_s: float
    pose: Pose
    sway_deg: float = 0.0
    sway_m: float = 0.0
    seed: int = 0

    def evaluate(self, t: Array) -> tuple[Array, Array]:
        euler = np.broadcast_to(np.asarray(self.pose.euler_deg), (t.size, 3)).copy()
        pos = np.broadcast_to(np.asarray(self.pose.pos_m), (t.size, 3)).copy()
        if self.sway_deg > 0.0 or self.sway_m > 0.0:
            rng = np.random.default_rng(self.seed)
            freq = rng.uniform(0.1, 0.7, size=(3, 3))
            phase = rng.uniform(0.0, 2 * np.pi, size=(3, 3))
            dur = self.t1_s - self.t0_s
            ramp = min(SWAY_RAMP_S, dur / 2)
            # slow sway: compute on a coarse grid (≥ 100 Hz) and interpolate
            step = max(1, t.size // max(2, round((t[-1] - t[0]) * SWAY_GRID_HZ)))
            tc = np.append(t[::step], t[-1])
            env = smootherstep((tc - self.t0_s) / ramp) * smootherstep((self.t1_s - tc) / ramp)
            for k in range(3):
                arg = 2 * np.pi * freq[k][:, None] * tc + phase[k][:, None]
                wave = env * np.sin(arg).mean(axis=0)
                wave_pos = env * np.sin(arg + 1.3).mean(axis=0)
                euler[:, k] += self.sway_deg * np.interp(t, tc, wave)
                pos[:, k] += self.sway_m * np.interp(t, tc, wave_pos)
        return euler, pos


@dataclass(frozen=True)
class Move:
    """Move smoothly from one pose to another (e.g. taking the brace off), lifting ``lift_m``."""

    t0_s: float
    t1_s: float
    start: Pose
    end: Pose
    lift_m: float = 0.0

    def evaluate(self, t: Array) -> tuple[Array, Array]:
        u = (t - self.t0_s) / (self.t1_s - self.t0_s)
        s = smootherstep(u)[:, None]
        a_e, b_e = np.asarray(self.start.euler_deg), np.asarray(self.end.euler_deg)
        a_p, b_p = np.asarray(self.start.pos_m), np.asarray(self.end.pos_m)
        euler = a_e + s * (b_e - a_e)
        pos = a_p + s * (b_p - a_p)
        pos[:, 2] += self.lift_m * np.sin(np.pi * np.clip(u, 0.0, 1.0)) ** 2
        return euler, pos
