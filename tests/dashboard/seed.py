"""Seed patients through the store's real write path: synthetic strides (dorsi.server.synthetic)
shaped into a recovery after surgery, activity minutes, battery and status, then the real
rollup maintainer computes the daily rollups the dashboard reads."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

from dorsi.server.registry import Registry
from dorsi.server.rollups import RollupMaintainer
from dorsi.server.schema import ActivityMinute, Stride, format_utc
from dorsi.server.store import ActivityRecord, BatteryRecord, StatusRecord, Store, StrideRecord
from dorsi.server.synthetic import iter_strides


def recovery_fraction(days_after_surgery: int) -> float:
    """0 before and just after surgery, rising from ~2 months to ~1 at 12 months (logistic)."""
    if days_after_surgery < 0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-(days_after_surgery - 150) / 40))


def seed_patient(
    store: Store,
    maintainer: RollupMaintainer,
    patient: str,
    device: str,
    side: str,
    first: date,
    last: date,
    surgery: date,
    *,
    strides_per_day: int = 60,
    seed: int = 0,
) -> int:
    """Write strides and activity for every day ``first``–``last``; returns strides written."""
    rng = random.Random(seed)
    total = 0
    day = first
    while day <= last:
        f = recovery_fraction((day - surgery).days)
        n = max(5, int(strides_per_day * (0.6 + 0.6 * f) + rng.randint(-8, 8)))
        start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        records = []
        for s in iter_strides(n, start=start, seed=rng.randrange(1 << 30)):
            slap = rng.random() < 0.45 - 0.35 * f
            drag = rng.random() < 0.20 - 0.15 * f
            s["foot_slap"], s["toe_drag"] = int(slap), int(drag)
            if s["slap_score"] is not None:
                s["slap_score"] = round(rng.uniform(1.0, 3.0) if slap else rng.uniform(0, 0.9), 3)
                s["drag_score"] = round(rng.uniform(1.0, 3.0) if drag else rng.uniform(0, 0.9), 3)
                s["foot_strike_angle_deg"] = round(s["foot_strike_angle_deg"] - 6 + 12 * f, 2)
                s["midswing_pitch_deg"] = round(s["midswing_pitch_deg"] - 3 + 8 * f, 2)
                s["gait_speed_mps"] = round(s["gait_speed_mps"] * (0.8 + 0.3 * f), 3)
                s["stride_length_m"] = round(s["stride_length_m"] * (0.85 + 0.2 * f), 3)
                if s["min_toe_clearance_cm"] is not None:
                    s["min_toe_clearance_cm"] = round(s["min_toe_clearance_cm"] + 1.2 * f, 2)
            records.append(
                StrideRecord(patient, device, side, "gw-seed", "seed", Stride.model_validate(s))
            )
        store.write_strides(records)
        maintainer.mark_strides(records)
        minutes = []
        for k in range(30):
            t = start + timedelta(minutes=k)
            walking = k < 10 + int(10 * f)
            minute = ActivityMinute.model_validate(
                {
                    "t": format_utc(t),
                    "state": "walking" if walking else "worn_still",
                    "worn_s": 60.0,
                    "walking_s": 40.0 if walking else 0.0,
                    "strides": 20 if walking else 0,
                }
            )
            minutes.append(ActivityRecord(patient, device, side, minute))
        store.write_activity(minutes)
        maintainer.mark_activity(minutes)
        total += n
        day += timedelta(days=1)
    maintainer.refresh()
    return total


def seed_status(store: Store, patient: str, device: str, side: str, battery_pct: float) -> None:
    """A battery reading and a connected gateway status, stamped now."""
    now = format_utc(datetime.now(UTC).replace(microsecond=0))
    store.write_battery([BatteryRecord(patient, device, now, battery_pct)])
    store.write_status([StatusRecord(patient, device, now, "online", side, "gw-seed", "connected")])


def seed_clinic(store: Store, registry: Registry, today: date, *, months: int = 24) -> None:
    """Two therapists: alice with p-ann (``months`` of data, surgery, brace change) and p-carl
    (worsening last week, low battery); bob with p-ben (two weeks)."""
    registry.add_patient("p-ann", "Ann Example", "left", "carbon AFO")
    registry.add_patient("p-carl", "Carl Example", "right", "posterior leaf spring")
    registry.add_patient("p-ben", "Ben Example", "right", "hinged AFO")
    registry.assign("alice", "p-ann")
    registry.assign("alice", "p-carl")
    registry.assign("bob", "p-ben")
    maintainer = RollupMaintainer(store)
    first = today - timedelta(days=int(months * 30.4) - 1)
    surgery = first + timedelta(days=45)
    registry.add_intervention("p-ann", "surgery", surgery, "peroneal nerve decompression")
    registry.add_intervention("p-ann", "brace change", surgery + timedelta(days=300), "lighter AFO")
    seed_patient(store, maintainer, "p-ann", "dev-ann", "left", first, today, surgery, seed=1)
    seed_status(store, "p-ann", "dev-ann", "left", 76.0)
    carl_surgery = today - timedelta(days=40)
    registry.add_intervention("p-carl", "surgery", carl_surgery, "tendon transfer")
    seed_patient(
        store, maintainer, "p-carl", "dev-carl", "right", today - timedelta(days=13),
        today - timedelta(days=7), carl_surgery - timedelta(days=400), seed=2,
    )  # fmt: skip
    seed_patient(
        store, maintainer, "p-carl", "dev-carl", "right", today - timedelta(days=6), today,
        carl_surgery, seed=3,
    )  # fmt: skip
    seed_status(store, "p-carl", "dev-carl", "right", 12.0)
    seed_patient(
        store, maintainer, "p-ben", "dev-ben", "right", today - timedelta(days=13), today,
        today - timedelta(days=100), seed=4,
    )  # fmt: skip
