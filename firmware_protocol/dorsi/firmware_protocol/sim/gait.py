"""One simulated gait cycle (mid-stance → mid-stance): the real template, warped and reshaped.

A cycle contains, in order: late stance and push-off, toe-off (TO), swing, initial contact (IC),
loading (heel rocker: IC → foot-flat, FF) and early stance. Foot-drop features are applied to
this template, per cycle:

- timing: the phase warp passes through the chosen TO, IC and FF times (monotone cubic), so a
  short IC → FF interval is a fast, uncontrolled plantarflexion (foot slap);
- foot pitch: push-off scaled to the chosen toe-off angle, an offset at mid-swing (reduced swing
  dorsiflexion = negative), the chosen foot strike angle at IC (≤ 0 = flat / toe-first contact,
  the loading then rotates about the toes);
- the heel path keeps the foot's lowest point on the template's path, so a toes-down swing lifts
  the heel (hip hiking) and a toe-first contact lands on the toes; toe drag lowers it to touch;
- transients as displacements (so specific force stays Rᵀ(a − g)): a heel-strike impact at IC,
  a forefoot impact at FF on slap, and on toe drag a forward deceleration, vibration and a pitch
  bump.

Left-foot convention; world x = initial walking direction, z up; angles in deg, lengths in m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import CubicSpline, PchipInterpolator
from scipy.ndimage import gaussian_filter1d

from .kinematics import gabor, smootherstep, soft_min0, velocity_dip
from .templates import StrideTemplate

Array = NDArray[np.float64]
FOOT_LENGTH_M = 0.20  # heel marker → toe along the sole
PUSH_OFF_START_PHASE = 0.15
FF_RELEASE_PHASE = 0.05
LIFT_SMOOTH_S = 0.012
LIFT_GRID_S = 0.004
HEEL_STRIKE_HZ = 45.0
SLAP_HZ = 38.0
HEEL_STRIKE_DIR = (0.2, 0.3, 1.0)  # foot frame, per unit impact
HEEL_STRIKE_RING_DEG_PER_MPS2 = 0.008  # angular ringing of the brace after impact
DRAG_VIBRATION_HZ = (23.0, 37.0, 51.0)


@dataclass(frozen=True)
class CycleSpec:
    """Parameters of one gait cycle; times in s, angles in deg, lengths in m, acc in m/s²."""

    t0_s: float
    t_to_s: float
    t_ic_s: float
    t_ff_s: float
    t1_s: float
    start_xy_m: tuple[float, float]
    heading_deg: float
    turn_deg: float = 0.0
    length_scale: float = 1.0
    toe_off_scale: float = 1.0
    swing_offset_deg: float = 0.0
    strike_angle_deg: float = 25.0
    roll_scale: float = 1.0
    yaw_scale: float = 1.0
    heel_impact_mps2: float = 15.0
    slap: bool = False
    slap_impact_mps2: float = 0.0
    drag: bool = False
    drag_t_s: float = 0.0
    drag_dv_mps: float = 0.0
    drag_vibration_mps2: float = 0.0
    drag_pitch_deg: float = 0.0

    def __post_init__(self) -> None:
        if not self.t0_s < self.t_to_s < self.t_ic_s < self.t_ff_s < self.t1_s:
            raise ValueError("cycle times must satisfy t0 < TO < IC < FF < t1")


class GaitCycle:
    """Evaluate one cycle's foot orientation and heel position at arbitrary times."""

    def __init__(self, spec: CycleSpec, template: StrideTemplate) -> None:
        self.spec = spec
        self.tpl = template
        self.t0_s = spec.t0_s
        self.t1_s = spec.t1_s
        tpl = template
        self._warp = PchipInterpolator(
            [spec.t0_s, spec.t_to_s, spec.t_ic_s, spec.t_ff_s, spec.t1_s],
            [0.0, tpl.phase_to, tpl.phase_ic, tpl.phase_ff, 1.0],
        )
        # the heel path is warped without the foot-flat knot: a slap rotates the foot fast
        # about the heel, it does not jerk the (nearly stopped) heel forward
        self._warp_heel = PchipInterpolator(
            [spec.t0_s, spec.t_to_s, spec.t_ic_s, spec.t1_s],
            [0.0, tpl.phase_to, tpl.phase_ic, 1.0],
        )
        self._ph_mid = 0.5 * (tpl.phase_to + tpl.phase_ic)
        self._pitch_ic = tpl.pitch_at(tpl.phase_ic)
        travel = np.deg2rad(spec.heading_deg + 0.5 * spec.turn_deg)
        self._travel = np.array(
            [[np.cos(travel), -np.sin(travel)], [np.sin(travel), np.cos(travel)]]
        )
        self._fwd = self._travel[:, 0]
        self._heel_lift = self._lift_profile()
        if spec.drag:
            ph = float(self._warp_heel(spec.drag_t_s))
            pitch_t = tpl.pitch_at(ph)
            z_t = float(tpl.evaluate(np.array([ph]))[0, 5])
            lowest = z_t + FOOT_LENGTH_M * float(
                soft_min0(np.array([np.sin(np.deg2rad(pitch_t))]), 0.01)[0]
            )
            self._drag_depth_m = max(lowest, 0.0) + 0.003
        else:
            self._drag_depth_m = 0.0

    def _lift_profile(self) -> CubicSpline:
        """Heel lift (m) that keeps the foot's lowest point (heel or toes) on the template's path.

        Computed on a LIFT_GRID_S grid and smoothed (Gaussian, LIFT_SMOOTH_S) so that the switch
        between heel and toes as the lowest point does not make acceleration spikes in swing.
        """
        dt = LIFT_GRID_S
        t = np.arange(self.t0_s, self.t1_s + dt, dt)
        ph = self.phase(t)
        p_m = self._pitch(ph, self.tpl.evaluate(ph)[:, 1])
        p_heel = self.tpl.evaluate(self._warp_heel(t))[:, 1]
        eps = 0.01
        lift = FOOT_LENGTH_M * (
            soft_min0(np.sin(np.deg2rad(p_heel)), eps) - soft_min0(np.sin(np.deg2rad(p_m)), eps)
        )
        return CubicSpline(t, gaussian_filter1d(lift, LIFT_SMOOTH_S / dt, mode="nearest"))

    def phase(self, t: Array) -> Array:
        """Template phase (0..1) at times t (s)."""
        out: Array = self._warp(np.clip(t, self.t0_s, self.t1_s))
        return out

    def evaluate(self, t: Array) -> tuple[Array, Array]:
        """Euler angles (n,3: roll, pitch, yaw deg) and heel position (n,3 m, world) at t."""
        spec, tpl = self.spec, self.tpl
        ph = self.phase(t)
        ch = tpl.evaluate(ph)
        p_t = ch[:, 1]
        pitch = self._pitch(ph, p_t)
        tc = np.clip(t, self.t0_s, self.t1_s)
        # roll, yaw and the heel path follow the unhurried phase: a slap is a pitch event
        ch_heel = tpl.evaluate(self._warp_heel(tc))
        roll = ch_heel[:, 0] * spec.roll_scale
        swing = smootherstep((ph - tpl.phase_to) / (tpl.phase_ic - tpl.phase_to))
        yaw = ch_heel[:, 2] * spec.yaw_scale + spec.heading_deg + spec.turn_deg * swing

        heel = ch_heel[:, 3:6]
        z = heel[:, 2] + self._heel_lift(tc)
        xy = (heel[:, :2] * [spec.length_scale, 1.0]) @ self._travel.T + spec.start_xy_m
        fwd = np.zeros_like(t)

        # heel-strike impact along the foot's own axes (mostly its z), rotated by the strike angle
        w_hs = (2 * np.pi * HEEL_STRIKE_HZ) ** 2
        burst = gabor(t, spec.t_ic_s + 0.006, 0.005, HEEL_STRIKE_HZ) * spec.heel_impact_mps2 / w_hs
        dx, dy, dz = HEEL_STRIKE_DIR
        sa, ca = (
            np.sin(np.deg2rad(spec.strike_angle_deg)),
            np.cos(np.deg2rad(spec.strike_angle_deg)),
        )
        z = z + (dx * sa + dz * ca) * burst
        fwd = fwd + (dx * ca - dz * sa) * burst
        lat = dy * burst
        ring = gabor(t, spec.t_ic_s + 0.008, 0.006, HEEL_STRIKE_HZ * 1.3)
        roll = roll + spec.heel_impact_mps2 * HEEL_STRIKE_RING_DEG_PER_MPS2 * ring
        pitch = pitch + 0.5 * spec.heel_impact_mps2 * HEEL_STRIKE_RING_DEG_PER_MPS2 * ring
        if spec.slap:  # forefoot slaps down at FF: a second, stronger impact
            w = (2 * np.pi * SLAP_HZ) ** 2
            burst = gabor(t, spec.t_ff_s + 0.006, 0.007, SLAP_HZ) * spec.slap_impact_mps2 / w
            z = z + burst
            fwd = fwd - 0.4 * burst
            lat = lat - 0.15 * burst
        if spec.drag:
            td = spec.drag_t_s
            z = z - self._drag_depth_m * np.exp(-0.5 * ((t - td) / 0.05) ** 2)
            fwd = fwd + spec.drag_dv_mps * velocity_dip(t, td, 0.018)
            for k, f_hz in enumerate(DRAG_VIBRATION_HZ):
                amp = spec.drag_vibration_mps2 / (2 * np.pi * f_hz) ** 2 / (k + 1)
                z = z + amp * gabor(t, td + 0.01 * k, 0.03, f_hz)
                fwd = fwd + 0.7 * amp * gabor(t, td + 0.012 * k, 0.03, f_hz * 1.1)
            pitch = pitch + spec.drag_pitch_deg * np.exp(-0.5 * ((t - td - 0.01) / 0.02) ** 2)
        xy = xy + fwd[:, None] * self._fwd + lat[:, None] * self._travel[:, 1]
        return np.stack([roll, pitch, yaw], axis=1), np.column_stack([xy, z])

    def _pitch(self, ph: Array, p_t: Array) -> Array:
        """Reshaped foot pitch (deg) from the template pitch ``p_t`` at phases ``ph``."""
        spec, tpl = self.spec, self.tpl
        ph_to, ph_ic, ph_mid = tpl.phase_to, tpl.phase_ic, self._ph_mid
        w_push = np.where(
            ph <= ph_to,
            smootherstep((ph - PUSH_OFF_START_PHASE) / (ph_to - PUSH_OFF_START_PHASE)),
            1.0 - smootherstep((ph - ph_to) / (ph_mid - ph_to)),
        )
        h_swing = np.where(
            ph <= ph_mid,
            smootherstep((ph - ph_to) / (ph_mid - ph_to)),
            1.0 - smootherstep((ph - ph_mid) / (ph_ic - ph_mid)),
        )
        release = 1.0 - smootherstep((ph - tpl.phase_ff) / FF_RELEASE_PHASE)
        h_contact = np.where(
            ph <= ph_ic,
            smootherstep((ph - ph_mid) / (ph_ic - ph_mid)),
            p_t / self._pitch_ic * release,
        )
        out: Array = (
            p_t * (1.0 + (spec.toe_off_scale - 1.0) * w_push)
            + spec.swing_offset_deg * h_swing
            + (spec.strike_angle_deg - self._pitch_ic) * h_contact
        )
        return out
