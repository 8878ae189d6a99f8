"""Per-stride ground truth of a simulated recording (the columns of ``truth.csv``)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class StrideTruth:
    """One stride, initial contact to the next initial contact of the same foot.

    Times in s from the start of the recording; angles are foot pitch in deg relative to
    foot-flat (> 0 = toes up): at ``ic_t`` (foot strike; ≤ 0 = flat / toe-first contact), at
    ``to_t`` (toe-off) and halfway between ``to_t`` and ``next_ic_t`` (mid-swing). ``slap`` is 1
    when the contact at ``ic_t`` is a foot slap; ``drag`` is 1 when the toes drag in the swing
    before ``next_ic_t``. Stride length is the heel's horizontal travel between the contacts.
    """

    ic_t: float
    to_t: float
    next_ic_t: float
    stride_time_s: float
    stride_length_m: float
    foot_strike_angle_deg: float
    toe_off_angle_deg: float
    midswing_pitch_deg: float
    slap: int
    drag: int


TRUTH_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StrideTruth))
