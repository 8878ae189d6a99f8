"""FHIR R4 export: a ``collection`` Bundle of daily Observations (category ``activity``) built
from daily rollups.

Codes: daily steps use LOINC 41950-7 (steps = 2 × strides of the instrumented foot: every
stride of one foot is two steps); walking speed, step length and cadence use the HL7 Personal
Health Record IG code system (``PHR_SYSTEM``); everything else uses the dorsi code system
``DORSI_SYSTEM`` documented in docs/dashboard.md. Each value is the day's mean (UTC day).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from dorsi.server.registry import Patient
from dorsi.server.store import DailyRollup

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PHR_SYSTEM = "http://hl7.org/fhir/uv/phr/CodeSystem/observation-pghd-codes"
DORSI_SYSTEM = "https://dorsi.example.org/fhir/CodeSystem/dorsi-gait"
PATIENT_SYSTEM = "https://dorsi.example.org/fhir/patient-id"
CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "activity",
            "display": "Activity",
        }
    ]
}

# rollup field or metric → (system, code, display, UCUM unit, unit text, scale)
CODES: dict[str, tuple[str, str, str, str, str, float]] = {
    "gait_speed_mps": (PHR_SYSTEM, "walkingSpeed", "Walking speed", "m/s", "m/s", 1.0),
    "stride_length_m": (PHR_SYSTEM, "walkingStepLength", "Walking step length", "m", "m", 0.5),
    "cadence_spm": (PHR_SYSTEM, "stepsCadence", "Steps cadence", "/min", "steps/min", 1.0),
    "walking_s": (DORSI_SYSTEM, "walking-time", "Walking time per day", "min", "min", 1 / 60),
    "worn_s": (DORSI_SYSTEM, "brace-wear-time", "Brace wear time per day", "h", "h", 1 / 3600),
    "slap_pct": (DORSI_SYSTEM, "foot-slap-percent", "Strides with foot slap", "%", "%", 1.0),
    "drag_pct": (DORSI_SYSTEM, "toe-drag-percent", "Strides with toe drag", "%", "%", 1.0),
    "foot_strike_angle_deg": (
        DORSI_SYSTEM,
        "foot-strike-angle",
        "Foot pitch at initial contact",
        "deg",
        "°",
        1.0,
    ),
    "midswing_pitch_deg": (
        DORSI_SYSTEM,
        "midswing-pitch",
        "Foot pitch at mid-swing",
        "deg",
        "°",
        1.0,
    ),
    "toe_off_angle_deg": (DORSI_SYSTEM, "toe-off-angle", "Foot pitch at toe-off", "deg", "°", 1.0),
    "min_toe_clearance_cm": (
        DORSI_SYSTEM,
        "min-toe-clearance",
        "Minimum toe clearance in swing",
        "cm",
        "cm",
        1.0,
    ),
}
"""Stride length is one foot's stride; step length (PHR) is half of it on level walking."""


def _resource_id(text: str) -> str:
    """A FHIR id (``[A-Za-z0-9-.]{1,64}``): the text with ``_`` → ``-``, or its SHA-1 if long."""
    clean = text.replace("_", "-")
    return clean if len(clean) <= 64 else hashlib.sha1(clean.encode()).hexdigest()


def _observation(
    patient: Patient,
    rollup: DailyRollup,
    key: str,
    value: float,
    coding: dict[str, str],
    unit: str,
    ucum: str,
) -> dict[str, Any]:
    day = rollup.day.isoformat()
    return {
        "resource": {
            "resourceType": "Observation",
            "id": _resource_id(f"{patient.id}-{rollup.side}-{day}-{key}"),
            "status": "final",
            "category": [CATEGORY],
            "code": {"coding": [coding], "text": coding["display"]},
            "subject": {"identifier": {"system": PATIENT_SYSTEM, "value": patient.id}},
            "effectivePeriod": {"start": f"{day}T00:00:00Z", "end": f"{day}T23:59:59Z"},
            "valueQuantity": {"value": round(value, 4), "unit": unit, "system": UCUM, "code": ucum},
            "bodySite": {"text": f"{rollup.side} foot"},
        }
    }


def observation_bundle(patient: Patient, rollups: Sequence[DailyRollup]) -> dict[str, Any]:
    """One Observation per day, side and measure with data (JSON-ready dict)."""
    entries = []
    for r in rollups:
        if r.strides:
            coding = {
                "system": LOINC,
                "code": "41950-7",
                "display": "Number of steps in 24 hour Measured",
            }
            entries.append(
                _observation(patient, r, "steps", 2.0 * r.strides, coding, "steps/day", "/d")
            )
        for key, (system, code, display, ucum, unit, scale) in CODES.items():
            value: float | None
            if key in ("walking_s", "worn_s"):
                value = getattr(r, key) if (r.strides or r.worn_s) else None
            elif key in ("slap_pct", "drag_pct"):
                value = getattr(r, key)
            else:
                stats = r.metrics.get(key)
                value = stats.mean if stats and stats.count else None
            if value is None:
                continue
            coding = {"system": system, "code": code, "display": display}
            entries.append(_observation(patient, r, key, value * scale, coding, unit, ucum))
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
