"""``/api/v1/patients``: the caller's patients with status, and their intervention events."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status

from dorsi.server.api_models import (
    InterventionCreate,
    InterventionPublic,
    PatientCreate,
    PatientPublic,
)
from dorsi.server.audit_http import audited, mark
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


@router.get("", openapi_extra=audited("list"))
def list_patients(
    request: Request, user: CurrentUser, registry: RegistryDep, store: StoreDep
) -> list[PatientPublic]:
    """The caller's patients with last data time, battery and today's stride count."""
    patients = registry.patients_for(user)
    mark(request, user.username, user.role, [p.id for p in patients])
    return [_public(p, user, registry, store) for p in patients]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=audited("create"),
    responses={
        409: {"description": "the id is taken"},
        422: {"description": "a therapist is unknown or not a therapist"},
    },
)
def create_patient(
    request: Request,
    body: PatientCreate,
    admin: CurrentAdmin,
    registry: RegistryDep,
    store: StoreDep,
) -> PatientPublic:
    """Register a patient and assign therapists (admin only); nothing is stored on error."""
    for username in body.therapists:
        therapist = registry.user_by_name(username)
        if therapist is None or therapist.role != "therapist":
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"{username!r} is not a therapist"
            )
    if registry.patient(body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"patient id {body.id!r} is taken")
    try:
        patient = registry.add_patient(
            body.id, body.display_name, body.affected_side, body.brace_type
        )
        for username in body.therapists:
            registry.assign(username, patient.id)
    except RegistryError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    mark(request, admin.username, admin.role, [patient.id])
    return _public(patient, admin, registry, store)


@router.get("/{patient_id}", openapi_extra=audited("view"))
def get_patient(
    patient: VisiblePatient, user: CurrentUser, registry: RegistryDep, store: StoreDep
) -> PatientPublic:
    """One patient with status."""
    return _public(patient, user, registry, store)


@router.get("/{patient_id}/interventions", openapi_extra=audited("view"))
def list_interventions(patient: VisiblePatient, registry: RegistryDep) -> list[InterventionPublic]:
    """Intervention events (surgery, nerve transfer, brace change, …) by date."""
    return [
        InterventionPublic(id=i.id, kind=i.kind, day=i.day, note=i.note)
        for i in registry.interventions(patient.id)
    ]


@router.post(
    "/{patient_id}/interventions",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=audited("edit"),
)
def add_intervention(
    body: InterventionCreate, patient: VisiblePatient, registry: RegistryDep
) -> InterventionPublic:
    """Record an intervention event."""
    try:
        event = registry.add_intervention(patient.id, body.kind, body.day, body.note)
    except RegistryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return InterventionPublic(id=event.id, kind=event.kind, day=event.day, note=event.note)
