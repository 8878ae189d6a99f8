"""``/api/v1/patients``: the caller's patients with status, and their intervention events."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status

from dorsi.server.api_models import (
    InterventionCreate,
    InterventionPublic,
    PatientCreate,
    PatientPublic,
)
from dorsi.server.deps import CurrentAdmin, CurrentUser, RegistryDep, StoreDep, VisiblePatient
from dorsi.server.registry import Patient, Registry, RegistryError, User
from dorsi.server.store import Store

router = APIRouter(prefix="/api/v1/patients", tags=["patients"])


def _public(patient: Patient, user: User, registry: Registry, store: Store) -> PatientPublic:
    today = datetime.now(UTC).date()
    battery = store.latest_battery(patient.id)
    statuses = store.latest_status(patient.id)
    newest = max(statuses, key=lambda r: r.t) if statuses else None
    return PatientPublic(
        id=patient.id,
        display_name=patient.display_name if registry.is_assigned(user, patient.id) else None,
        affected_side=patient.affected_side,
        brace_type=patient.brace_type,
        devices=[d.id for d in registry.devices(patient.id)],
        last_data_t=store.last_stride_t(patient.id),
        battery_pct=battery.battery_pct if battery else None,
        today_strides=sum(
            r.strides for r in store.query_rollups(patient.id, today, today, metrics=[])
        ),
        gateway_state=newest.state if newest else None,  # type: ignore[arg-type]
        link=newest.link if newest else None,  # type: ignore[arg-type]
        status_t=newest.t if newest else None,
    )


@router.get("")
def list_patients(user: CurrentUser, registry: RegistryDep, store: StoreDep) -> list[PatientPublic]:
    """The caller's patients with last data time, battery and today's stride count."""
    return [_public(p, user, registry, store) for p in registry.patients_for(user)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_patient(
    body: PatientCreate, admin: CurrentAdmin, registry: RegistryDep, store: StoreDep
) -> PatientPublic:
    """Register a patient and assign therapists (admin only)."""
    try:
        patient = registry.add_patient(
            body.id, body.display_name, body.affected_side, body.brace_type
        )
        for username in body.therapists:
            registry.assign(username, patient.id)
    except RegistryError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return _public(patient, admin, registry, store)


@router.get("/{patient_id}")
def get_patient(
    patient: VisiblePatient, user: CurrentUser, registry: RegistryDep, store: StoreDep
) -> PatientPublic:
    """One patient with status."""
    return _public(patient, user, registry, store)


@router.get("/{patient_id}/interventions")
def list_interventions(patient: VisiblePatient, registry: RegistryDep) -> list[InterventionPublic]:
    """Intervention events (surgery, nerve transfer, brace change, …) by date."""
    return [
        InterventionPublic(id=i.id, kind=i.kind, day=i.day, note=i.note)
        for i in registry.interventions(patient.id)
    ]


@router.post("/{patient_id}/interventions", status_code=status.HTTP_201_CREATED)
def add_intervention(
    body: InterventionCreate, patient: VisiblePatient, registry: RegistryDep
) -> InterventionPublic:
    """Record an intervention event."""
    event = registry.add_intervention(patient.id, body.kind, body.day, body.note)
    return InterventionPublic(id=event.id, kind=event.kind, day=event.day, note=event.note)
