"""Accuracy on the real recording with motion-capture reference (issue 3 targets, both feet)."""

from __future__ import annotations

import numpy as np
import pytest
from signal_reference import SIDES, Recording, check_targets, compare, heel_displacement_mm

from dorsi.signal import GaitAnalysis


@pytest.mark.parametrize("side", SIDES)
def test_body_frame_meets_targets(
    side: str, recordings: dict[str, Recording], body_analyses: dict[str, GaitAnalysis]
) -> None:
    check_targets(compare(body_analyses[side].strides, recordings[side]))


@pytest.mark.parametrize("side", SIDES)
def test_every_stride_inside_the_walk_is_a_real_step(
    side: str, recordings: dict[str, Recording], body_analyses: dict[str, GaitAnalysis]
) -> None:
    """No false strides: each stride during the mocap walk moves the heel (mocap) by ≥ 20 cm."""
    rec = recordings[side]
    walk = (rec.reference.ic_t[0] - 0.1, rec.reference.next_ic_t[-1] + 0.1)
    inside = [s for s in body_analyses[side].strides if walk[0] < s.ic_t < walk[1]]
    assert inside
    for s in inside:
        assert heel_displacement_mm(rec, s.ic_t, s.next_ic_t) >= 200.0, s


@pytest.mark.parametrize("side", SIDES)
def test_healthy_values_are_plausible(side: str, body_analyses: dict[str, GaitAnalysis]) -> None:
    """Straight-walking strides of this healthy adult: heel-first contact, push-off, ~1.3 m."""
    straight = [s for s in body_analyses[side].strides if not s.turn]
    assert len(straight) >= 20
    assert all(s.foot_strike_angle_deg > 10.0 for s in straight)
    assert all(s.toe_off_angle_deg < -40.0 for s in straight)
    assert 1.1 < float(np.median([s.stride_length_m for s in straight])) < 1.6
    assert all(s.midswing_pitch_deg > s.toe_off_angle_deg for s in straight)


def test_turn_is_flagged(body_analyses: dict[str, GaitAnalysis]) -> None:
    """The 180° turn mid-walk is flagged on at least one stride of each foot, not elsewhere."""
    for analysis in body_analyses.values():
        turns = [s for s in analysis.strides if s.turn]
        assert turns
        assert len(turns) <= 5
