"""Valid synthetic ``dorsi.strides/1`` data for tests, benchmarks and the demo (no I/O).

Strides follow one another without gaps inside a bout (``next_ic_t`` of one is ``ic_t`` of the
next) with plausible foot-drop values: stride time 0.9–1.4 s, stance 60–66 % of the stride, some
foot slap and toe drag.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from dorsi.server.schema import STRIDES_SCHEMA, format_utc


def synthetic_strides(n: int, *, start: datetime, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` consecutive valid stride objects starting at ``start`` (aware UTC datetime)."""
    return list(iter_strides(n, start=start, seed=seed))


NO_TRAJECTORY_FIELDS = (
    "stride_length_m",
    "gait_speed_mps",
    "foot_strike_angle_deg",
    "toe_off_angle_deg",
    "midswing_pitch_deg",
    "peak_swing_pitch_deg",
    "min_toe_clearance_cm",
    "slap_score",
    "drag_score",
)
"""Null when a stride's trajectory could not be estimated (docs/mqtt.md)."""


def iter_strides(n: int, *, start: datetime, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Like :func:`synthetic_strides`, lazily (for millions of strides)."""
    rng = random.Random(seed)
    offset_us = 0
    bout = 0
    for i in range(n):
        if i and i % 200 == 0:  # a new walking bout after a pause of 1-10 min
            bout += 1
            offset_us += rng.randrange(60, 600) * 1_000_000
        stride_us = rng.randrange(900_000, 1_400_000)
        stance_us = int(stride_us * rng.uniform(0.60, 0.66))
        stride_s = stride_us / 1e6
        slap = rng.random() < 0.3
        drag = rng.random() < 0.1
        ic = start + timedelta(microseconds=offset_us)
        stride = {
            "ic_t": format_utc(ic),
            "to_t": format_utc(ic + timedelta(microseconds=stance_us)),
            "next_ic_t": format_utc(ic + timedelta(microseconds=stride_us)),
            "stride_time_s": stride_s,
            "stance_time_s": stance_us / 1e6,
            "swing_time_s": (stride_us - stance_us) / 1e6,
            "cadence_spm": round(120.0 / stride_s, 3),
            "stride_length_m": round(rng.uniform(0.6, 1.4), 3),
            "gait_speed_mps": round(rng.uniform(0.5, 1.3), 3),
            "foot_strike_angle_deg": round(rng.uniform(-8.0, 20.0), 2),
            "toe_off_angle_deg": round(rng.uniform(-70.0, -40.0), 2),
            "midswing_pitch_deg": round(rng.uniform(-15.0, 5.0), 2),
            "peak_swing_pitch_deg": round(rng.uniform(0.0, 25.0), 2),
            "min_toe_clearance_cm": None if rng.random() < 0.05 else round(rng.uniform(0, 3), 2),
            "foot_slap": int(slap),
            "slap_score": round(rng.uniform(1.0, 3.0) if slap else rng.uniform(0, 0.9), 3),
            "toe_drag": int(drag),
            "drag_score": round(rng.uniform(1.0, 3.0) if drag else rng.uniform(0, 0.9), 3),
            "turn": int(rng.random() < 0.05),
            "bout": bout,
            "quality": round(rng.uniform(0.5, 1.0), 3),
        }
        if rng.random() < 0.03:  # no foot trajectory for this stride: no lengths/angles/scores
            stride.update(dict.fromkeys(NO_TRAJECTORY_FIELDS))
        yield stride
        offset_us += stride_us


def strides_payload(
    patient: str,
    device: str,
    side: str,
    strides: Sequence[dict[str, Any]],
    *,
    gateway: str = "gw-synthetic",
    algorithm: str = "dorsi-signal synthetic",
) -> bytes:
    """A ``dorsi.strides/1`` message (JSON bytes) carrying ``strides`` as given."""
    message = {
        "schema": STRIDES_SCHEMA,
        "patient": patient,
        "device": device,
        "side": side,
        "gateway": gateway,
        "algorithm": algorithm,
        "strides": list(strides),
    }
    return json.dumps(message, separators=(",", ":")).encode()
