"""Synthesise IMU samples from a motion plan, chunk by chunk (24 h at 208 Hz fits in memory).

Per chunk: the plan is evaluated on a fine grid (an odd multiple k of the output rate, ≥ 600 Hz),
giving foot orientation R(t) (Euler angles) and the sensor position p(t) = p_heel + R · r with
the lever arm r of a sensor on the lateral side below the ankle. Then

- gyro ω = body-frame angular velocity from R (deg/s),
- accelerometer f = Rᵀ (p̈ − g), g = (0, 0, −9.81) m/s² in the world frame,

both averaged over k fine samples centred on each output sample (the sensor's anti-alias
filter), mirrored for the right foot (acc_y, gyr_x, gyr_z flip sign), rotated into the sensor
frame by the optional mounting rotation, and given a constant bias and white noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from .kinematics import (
    body_rates_dps,
    euler_to_matrix,
    rotation_xyz,
    second_difference,
    specific_force_mps2,
)
from .recording import SimulatedRecording
from .scenarios import SCENARIOS, Plan, build_plan
from .segments import Segment
from .truth import StrideTruth

Array = NDArray[np.float64]
SIDES: tuple[str, ...] = ("left", "right")
LEVER_ARM_M = np.array([0.07, 0.045, 0.035])  # heel → sensor, left-foot frame (+y = lateral)
FINE_RATE_MIN_HZ = 600.0
CHUNK_S = 60.0
RATE_LIMITS_HZ = (10.0, 2000.0)
MAX_SECONDS = 7 * 86400.0
MAX_MOUNTING_DEG = 180.0
ACC_NOISE_MPS2 = 0.04  # white noise RMS at 104 Hz, scales with sqrt(rate)
GYR_NOISE_DPS = 0.15
ACC_BIAS_SD_MPS2 = 0.08
GYR_BIAS_SD_DPS = 0.6
ACC_RANGE_MPS2 = 16 * 9.81
GYR_RANGE_DPS = 2000.0


@dataclass(frozen=True)
class SimConfig:
    """What to simulate; validated on construction (ValueError with the reason)."""

    scenario: str
    seconds: float
    rate_hz: float
    side: str = "left"
    seed: int = 0
    mounting_rotation_deg: tuple[float, float, float] | None = None
    noise: bool = True

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(
                f"unknown scenario {self.scenario!r}; choose one of {', '.join(SCENARIOS)}"
            )
        if not (math.isfinite(self.seconds) and 0.0 < self.seconds <= MAX_SECONDS):
            raise ValueError(f"seconds must be in (0, {MAX_SECONDS:.0f}], got {self.seconds}")
        lo, hi = RATE_LIMITS_HZ
        if not (math.isfinite(self.rate_hz) and lo <= self.rate_hz <= hi):
            raise ValueError(f"rate_hz must be within {lo:g}..{hi:g} Hz, got {self.rate_hz}")
        if self.side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {self.side!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be ≥ 0, got {self.seed}")
        if self.seconds * self.rate_hz < 1.0:
            raise ValueError("seconds × rate_hz must give at least one sample")
        mr = self.mounting_rotation_deg
        if mr is not None and (
            len(mr) != 3 or not all(math.isfinite(a) and abs(a) <= MAX_MOUNTING_DEG for a in mr)
        ):
            raise ValueError(
                f"mounting_rotation_deg must be 3 angles (roll, pitch, yaw) within "
                f"±{MAX_MOUNTING_DEG:g}°, got {mr}"
            )

    @property
    def n_samples(self) -> int:
        return max(1, math.floor(self.seconds * self.rate_hz))

    @property
    def fine_factor(self) -> int:
        """Odd number of fine samples per output sample."""
        k = max(1, math.ceil(FINE_RATE_MIN_HZ / self.rate_hz))
        return k if k % 2 else k + 1


@dataclass(frozen=True)
class Chunk:
    """Consecutive output samples (see SimulatedRecording for the fields)."""

    t: Array
    acc_mps2: Array
    gyr_dps: Array
    pitch_deg: Array
    euler_deg: Array
    sensor_pos_m: Array


class Synthesizer:
    """Turns a SimConfig into its plan, stride truth and a stream of sample chunks."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.plan: Plan = build_plan(cfg.scenario, cfg.seconds, np.random.default_rng(cfg.seed))
        self._starts = np.array([s.t0_s for s in self.plan.segments])
        t_last = (cfg.n_samples - 1) / cfg.rate_hz
        self.strides: list[StrideTruth] = [s for s in self.plan.strides if s.next_ic_t <= t_last]
        noise_rng = np.random.default_rng([cfg.seed, 7])
        self._acc_bias = noise_rng.normal(0.0, ACC_BIAS_SD_MPS2, 3)
        self._gyr_bias = noise_rng.normal(0.0, GYR_BIAS_SD_DPS, 3)
        self._noise_rng = noise_rng
        mr = cfg.mounting_rotation_deg
        self._mount = None if mr is None else rotation_xyz(*mr)

    def chunks(self, *, progress: bool = False) -> Iterator[Chunk]:
        """Yield the recording in chunks of CHUNK_S seconds."""
        cfg = self.cfg
        n = cfg.n_samples
        step = max(1, round(CHUNK_S * cfg.rate_hz))
        with tqdm(
            total=n, unit="sample", unit_scale=True, mininterval=1.0, disable=not progress
        ) as bar:
            for n0 in range(0, n, step):
                n1 = min(n, n0 + step)
                yield self._chunk(n0, n1)
                bar.update(n1 - n0)

    def _evaluate(self, tf: Array) -> tuple[Array, Array]:
        segs: tuple[Segment, ...] = self.plan.segments
        euler = np.empty((tf.size, 3))
        pos = np.empty((tf.size, 3))
        first = max(int(np.searchsorted(self._starts, tf[0], "right")) - 1, 0)
        last = max(int(np.searchsorted(self._starts, tf[-1], "right")) - 1, 0)
        for i in range(first, last + 1):
            a = 0 if i == first else int(np.searchsorted(tf, segs[i].t0_s, "left"))
            b = tf.size if i == last else int(np.searchsorted(tf, segs[i + 1].t0_s, "left"))
            if b > a:
                euler[a:b], pos[a:b] = segs[i].evaluate(tf[a:b])
        return euler, pos

    def _chunk(self, n0: int, n1: int) -> Chunk:
        cfg = self.cfg
        k = cfg.fine_factor
        h = k // 2
        fine_hz = cfg.rate_hz * k
        dt = 1.0 / fine_hz
        j0 = n0 * k - h - 2
        j1 = (n1 - 1) * k + h + 2
        tf = np.arange(j0, j1 + 1) / fine_hz
        euler, heel = self._evaluate(tf)
        rot = euler_to_matrix(euler)
        sensor = heel + np.einsum("nij,j->ni", rot, LEVER_ARM_M)
        gyr_f = body_rates_dps(euler, dt)
        acc_f = specific_force_mps2(rot, second_difference(sensor, dt))

        centre = np.arange(n0, n1) * k - j0
        acc = _window_mean(acc_f, centre, h)
        gyr = _window_mean(gyr_f, centre, h)
        euler_out = euler[centre]
        pos_out = sensor[centre]
        if cfg.side == "right":  # mirror: y flips; pseudo-vector gyro flips x and z
            acc[:, 1] *= -1.0
            gyr[:, [0, 2]] *= -1.0
            euler_out[:, [0, 2]] *= -1.0
            pos_out[:, 1] *= -1.0
        if self._mount is not None:
            acc = acc @ self._mount
            gyr = gyr @ self._mount
        if cfg.noise:
            scale = math.sqrt(cfg.rate_hz / 104.0)
            m = n1 - n0
            acc = acc + self._acc_bias + self._noise_rng.normal(0, ACC_NOISE_MPS2 * scale, (m, 3))
            gyr = gyr + self._gyr_bias + self._noise_rng.normal(0, GYR_NOISE_DPS * scale, (m, 3))
        acc = np.clip(acc, -ACC_RANGE_MPS2, ACC_RANGE_MPS2)
        gyr = np.clip(gyr, -GYR_RANGE_DPS, GYR_RANGE_DPS)
        t = np.arange(n0, n1) / cfg.rate_hz
        return Chunk(t, acc, gyr, euler_out[:, 1].copy(), euler_out, pos_out)


def _window_mean(x: Array, centre: NDArray[np.int_], h: int) -> Array:
    """Mean of rows centre−h .. centre+h of x (n,d) for each centre."""
    cs = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    out: Array = (cs[centre + h + 1] - cs[centre - h]) / (2 * h + 1)
    return out


def simulate(
    scenario: str,
    seconds: float = 60.0,
    rate_hz: float = 104.0,
    side: str = "left",
    seed: int = 0,
    mounting_rotation_deg: tuple[float, float, float] | None = None,
    *,
    noise: bool = True,
    keep_kinematics: bool = False,
    progress: bool = False,
) -> SimulatedRecording:
    """Simulate a foot-IMU recording of ``scenario`` (one of SCENARIOS) with ground truth.

    Args:
        scenario: healthy, footdrop_mild, footdrop_severe or mixed_day.
        seconds: duration (s).
        rate_hz: output sample rate (Hz), e.g. 52, 104, 208.
        side: "left" or "right" foot (body frame y stays "to the foot's left").
        seed: random seed; the same arguments give the same recording.
        mounting_rotation_deg: (roll, pitch, yaw) in deg of the sensor relative to the
            body-aligned frame, ``C = Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (right-handed; this
            "pitch" is a plain rotation about +y); samples are ``v_sensor = Cᵀ v_body``.
        noise: add sensor bias and white noise.
        keep_kinematics: also return the foot Euler angles and the sensor position.
        progress: show a progress bar.

    Raises:
        ValueError: an argument is out of range (the message names it).
    """
    cfg = SimConfig(scenario, float(seconds), float(rate_hz), side, int(seed),
                    mounting_rotation_deg, noise)  # fmt: skip
    synth = Synthesizer(cfg)
    parts = list(synth.chunks(progress=progress))
    euler = np.concatenate([c.euler_deg for c in parts]) if keep_kinematics else None
    pos = np.concatenate([c.sensor_pos_m for c in parts]) if keep_kinematics else None
    return SimulatedRecording(
        scenario=scenario,
        side=side,
        rate_hz=cfg.rate_hz,
        seed=cfg.seed,
        mounting_rotation_deg=mounting_rotation_deg,
        t=np.concatenate([c.t for c in parts]),
        acc_mps2=np.concatenate([c.acc_mps2 for c in parts]),
        gyr_dps=np.concatenate([c.gyr_dps for c in parts]),
        pitch_deg=np.concatenate([c.pitch_deg for c in parts]),
        strides=synth.strides,
        euler_deg=euler,
        sensor_pos_m=pos,
    )
