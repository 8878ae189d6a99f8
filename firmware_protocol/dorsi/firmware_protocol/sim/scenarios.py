"""Scenarios: which walking patterns, bouts and pauses a simulated recording contains.

A scenario turns (duration, random generator) into a *plan*: a gap-free sequence of segments
(standing, sitting, brace off, moving between poses, gait cycles) and the per-stride ground
truth. All randomness comes from the generator, so a seed reproduces the plan exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from .gait import CycleSpec, GaitCycle
from .segments import Hold, Move, Pose, Segment
from .templates import StrideTemplate, load_template
from .truth import StrideTruth

SCENARIOS: tuple[str, ...] = ("healthy", "footdrop_mild", "footdrop_severe", "mixed_day")
FLAT_POSE_EULER = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class GaitStyle:
    """Per-stride distributions of one walking pattern (means, SDs; s, m, deg, m/s²)."""

    name: str
    stride_time_s: float
    stride_time_cv: float
    stride_length_m: float
    stride_length_cv: float
    strike_deg: float
    strike_sd_deg: float
    toe_off_scale: float
    swing_offset_deg: float
    swing_offset_sd_deg: float
    loading_s: float = 0.13
    slap_prob: float = 0.0
    slap_strike_deg: float = 12.0
    drag_prob: float = 0.0
    flat_prob: float = 0.0


HEALTHY = GaitStyle("healthy", 1.09, 0.025, 1.37, 0.03, 26.0, 2.0, 1.0, 0.0, 2.0)
MILD = GaitStyle(
    "footdrop_mild", 1.20, 0.035, 1.12, 0.05, 12.0, 3.0, 0.92, -7.0, 3.0,
    loading_s=0.11, slap_prob=0.4, slap_strike_deg=11.0, drag_prob=0.15, flat_prob=0.05,
)  # fmt: skip
SEVERE = GaitStyle(
    "footdrop_severe", 1.38, 0.05, 0.92, 0.07, 6.0, 2.5, 0.85, -14.0, 4.0,
    loading_s=0.09, slap_prob=0.75, slap_strike_deg=8.0, drag_prob=0.45, flat_prob=0.15,
)  # fmt: skip


@dataclass(frozen=True)
class DayPattern:
    """How bouts and pauses alternate: durations in s, pause kinds with probabilities."""

    styles: tuple[tuple[GaitStyle, float], ...]
    bout_s: tuple[float, float]
    pauses: tuple[tuple[str, float, tuple[float, float]], ...]
    lead_in_s: float = 3.0
    lead_in_off_fraction: float = 0.0  # a day starts with the brace lying on a shelf


PATTERNS: dict[str, DayPattern] = {
    "healthy": DayPattern(((HEALTHY, 1.0),), (25.0, 60.0), (("stand", 1.0, (2.0, 6.0)),)),
    "footdrop_mild": DayPattern(((MILD, 1.0),), (25.0, 60.0), (("stand", 1.0, (2.0, 6.0)),)),
    "footdrop_severe": DayPattern(((SEVERE, 1.0),), (25.0, 60.0), (("stand", 1.0, (2.0, 6.0)),)),
    "mixed_day": DayPattern(
        ((MILD, 0.6), (SEVERE, 0.25), (HEALTHY, 0.15)),
        (10.0, 150.0),
        (
            ("stand", 0.45, (5.0, 60.0)),
            ("sit", 0.4, (60.0, 1500.0)),
            ("off", 0.15, (600.0, 5400.0)),
        ),
        lead_in_off_fraction=0.05,
    ),
}


@dataclass(frozen=True)
class Plan:
    """A gap-free motion timeline from 0 to ``duration_s`` and its stride ground truth."""

    duration_s: float
    segments: tuple[Segment, ...]
    strides: tuple[StrideTruth, ...]


def build_plan(scenario: str, duration_s: float, rng: np.random.Generator) -> Plan:
    """Plan ``duration_s`` seconds of ``scenario`` (one of SCENARIOS)."""
    if scenario not in PATTERNS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    return _Planner(PATTERNS[scenario], duration_s, rng, load_template()).run()


class _Planner:
    def __init__(
        self, pattern: DayPattern, duration_s: float, rng: np.random.Generator, tpl: StrideTemplate
    ) -> None:
        self.pattern, self.end_s, self.rng, self.tpl = pattern, duration_s, rng, tpl
        self.segments: list[Segment] = []
        self.strides: list[StrideTruth] = []
        self.t = 0.0
        self.xy = (0.0, 0.0)
        self.heading = 0.0

    def run(self) -> Plan:
        pattern, rng = self.pattern, self.rng
        off_s = pattern.lead_in_off_fraction * self.end_s
        if off_s >= 30.0:  # brace off, then put on
            self._pause("off", min(off_s, 3600.0), start_off=True)
        self._hold("stand", min(pattern.lead_in_s, self.end_s))
        while self.t < self.end_s:
            weights = np.array([w for _, w in pattern.styles])
            style = pattern.styles[rng.choice(len(weights), p=weights / weights.sum())][0]
            self._bout(style, float(rng.uniform(*pattern.bout_s)))
            probs = np.array([p for _, p, _ in pattern.pauses])
            kind, _, (lo, hi) = pattern.pauses[rng.choice(len(probs), p=probs / probs.sum())]
            self._pause(kind, float(rng.uniform(lo, hi)))
        return Plan(self.end_s, tuple(self.segments), tuple(self.strides))

    # -- pauses -------------------------------------------------------------------------
    def _flat_pose(self) -> Pose:
        return Pose((0.0, 0.0, self.heading), (self.xy[0], self.xy[1], 0.0))

    def _hold(self, kind: str, dur: float) -> None:
        if dur <= 0:
            return
        sway = {"stand": (0.4, 0.002), "sit": (1.0, 0.004), "off": (0.0, 0.0)}[kind]
        pose = self._flat_pose()
        self.segments.append(
            Hold(self.t, self.t + dur, pose, sway[0], sway[1], int(self.rng.integers(1 << 31)))
        )
        self.t += dur

    def _pause(self, kind: str, dur: float, *, start_off: bool = False) -> None:
        """Stand, sit (foot forward, toes a little up) or take the brace off and put it down.

        With ``start_off`` the brace is already off at the start (no taking-off move).
        """
        if kind == "stand" or dur < 10.0:
            self._hold("stand", dur)
            return
        rng = self.rng
        home = self._flat_pose()
        c, s = np.cos(np.deg2rad(self.heading)), np.sin(np.deg2rad(self.heading))
        if kind == "sit":
            fwd = float(rng.uniform(0.15, 0.35))
            away = Pose(
                (float(rng.normal(0, 3)), float(rng.uniform(2.0, 12.0)), self.heading),
                (self.xy[0] + fwd * c, self.xy[1] + fwd * s, 0.0),
            )
            move_s, lift, sway = 1.5, 0.06, (1.0, 0.004)
        else:  # brace off: lying on its side or upside down, on a shelf
            roll = float(rng.choice([90.0, -90.0, 180.0]))
            away = Pose(
                (roll, float(rng.uniform(-20, 20)), self.heading + float(rng.uniform(-90, 90))),
                (self.xy[0] + 0.5 * c, self.xy[1] + 0.5 * s, float(rng.uniform(0.4, 0.9))),
            )
            move_s, lift, sway = 4.0, 0.3, (0.0, 0.0)
        hold_s = dur - (1 if start_off else 2) * move_s
        if not start_off:
            self.segments.append(Move(self.t, self.t + move_s, home, away, lift))
            self.t += move_s
        seed = int(rng.integers(1 << 31))
        self.segments.append(Hold(self.t, self.t + hold_s, away, sway[0], sway[1], seed))
        self.t += hold_s
        self.segments.append(Move(self.t, self.t + move_s, away, home, lift))
        self.t += move_s

    # -- walking ------------------------------------------------------------------------
    def _bout(self, style: GaitStyle, dur: float) -> None:
        rng = self.rng
        n = max(2, round(dur / style.stride_time_s))
        turn_at = int(rng.integers(8, 16))
        turns: dict[int, float] = {}
        while turn_at < n - 4:
            total = float(rng.choice([-1.0, 1.0]) * rng.uniform(90.0, 180.0))
            k = int(rng.integers(2, 4))
            for j in range(k):
                turns[turn_at + j] = total / k
            turn_at += k + int(rng.integers(8, 16))
        pace = float(rng.normal(1.0, 0.03))  # this bout's speed relative to the style
        cycles: list[GaitCycle] = []
        for i in range(n):
            spec = self._cycle_spec(style, pace, first=i == 0, last=i == n - 1)
            if i in turns:
                spec = replace(spec, turn_deg=turns[i], length_scale=spec.length_scale * 0.7)
            cycle = GaitCycle(spec, self.tpl)
            cycles.append(cycle)
            self.segments.append(cycle)
            self.t = spec.t1_s
            self.heading += spec.turn_deg
            end = cycle.evaluate(np.array([spec.t1_s]))[1][0]
            self.xy = (float(end[0]), float(end[1]))
        for a, b in pairwise(cycles):
            self.strides.append(_truth(a, b))

    def _cycle_spec(self, style: GaitStyle, pace: float, *, first: bool, last: bool) -> CycleSpec:
        rng, tpl = self.rng, self.tpl
        period = style.stride_time_s * pace * float(rng.normal(1.0, style.stride_time_cv))
        if first or last:
            period *= 1.05
        swing = (tpl.phase_ic - tpl.phase_to) * tpl.stride_time_s
        swing *= float(np.sqrt(period / tpl.stride_time_s)) * float(rng.normal(1.0, 0.02))
        rest = period - swing
        pre = rest * tpl.phase_to / (1.0 - (tpl.phase_ic - tpl.phase_to))
        t0 = self.t
        t_to, t_ic = t0 + pre, t0 + pre + swing

        slap = bool(rng.random() < style.slap_prob)
        flat = (not slap) and bool(rng.random() < style.flat_prob)
        if slap:
            strike = float(rng.normal(style.slap_strike_deg, 2.0))
            strike = max(strike, 5.0)
            loading = float(rng.uniform(0.03, 0.06))
        elif flat:
            strike = float(rng.uniform(-8.0, 0.0))
            loading = float(rng.uniform(0.07, 0.12))
        else:
            strike = float(rng.normal(style.strike_deg, style.strike_sd_deg))
            strike = max(strike, 3.0)
            loading = float(rng.normal(style.loading_s, 0.012))
            if style.slap_prob > 0.0:  # controlled lowering: never as fast as a slap
                loading = max(loading, 0.085)
        t_ff = t_ic + loading
        drag = bool(rng.random() < style.drag_prob)
        length = style.stride_length_m * pace * float(rng.normal(1.0, style.stride_length_cv))
        scale = length / tpl.stride_length_m * (0.55 if first or last else 1.0)
        to_scale = style.toe_off_scale * float(rng.normal(1.0, 0.04)) * (0.8 if first else 1.0)
        return CycleSpec(
            t0_s=t0,
            t_to_s=t_to,
            t_ic_s=t_ic,
            t_ff_s=t_ff,
            t1_s=t0 + period,
            start_xy_m=self.xy,
            heading_deg=self.heading,
            length_scale=scale,
            toe_off_scale=to_scale,
            swing_offset_deg=float(rng.normal(style.swing_offset_deg, style.swing_offset_sd_deg)),
            strike_angle_deg=strike,
            roll_scale=float(rng.normal(1.0, 0.1)),
            yaw_scale=float(rng.normal(1.0, 0.1)),
            heel_impact_mps2=float(rng.uniform(25.0, 60.0)) * (0.3 if flat or slap else 1.0),
            slap=slap,
            slap_impact_mps2=float(rng.uniform(80.0, 140.0)) if slap else 0.0,
            drag=drag,
            drag_t_s=t_to + float(rng.uniform(0.3, 0.55)) * swing,
            drag_dv_mps=float(rng.uniform(0.6, 1.2)) if drag else 0.0,
            drag_vibration_mps2=float(rng.uniform(12.0, 25.0)) if drag else 0.0,
            drag_pitch_deg=float(rng.uniform(3.0, 6.0)) if drag else 0.0,
        )


def _truth(a: GaitCycle, b: GaitCycle) -> StrideTruth:
    """Ground truth of the stride from a's initial contact to b's (left-foot convention)."""
    ic, nic = a.spec.t_ic_s, b.spec.t_ic_s
    to = b.spec.t_to_s
    mid = 0.5 * (to + nic)
    e_ic, p_ic = a.evaluate(np.array([ic]))
    e_b, p_b = b.evaluate(np.array([to, mid, nic]))
    return StrideTruth(
        ic_t=ic,
        to_t=to,
        next_ic_t=nic,
        stride_time_s=nic - ic,
        stride_length_m=float(np.hypot(*(p_b[2, :2] - p_ic[0, :2]))),
        foot_strike_angle_deg=float(e_ic[0, 1]),
        toe_off_angle_deg=float(e_b[0, 1]),
        midswing_pitch_deg=float(e_b[1, 1]),
        slap=int(a.spec.slap),
        drag=int(b.spec.drag),
    )
