"""``/api/v1/patients/{id}/fhir``: daily Observations as a FHIR R4 Bundle (bearer auth)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, status

from dorsi.server.audit_http import audited
from dorsi.server.deps import StoreDep, VisiblePatient
from dorsi.server.fhir import observation_bundle
from dorsi.server.trends import check_range

router = APIRouter(prefix="/api/v1/patients/{patient_id}", tags=["exports"])


@router.get("/fhir", openapi_extra=audited("export"))
def fhir_bundle(patient: VisiblePatient, store: StoreDep, start: date, end: date) -> dict[str, Any]:
    """A ``collection`` Bundle of daily step, gait and foot-drop Observations (UTC days)."""
    try:
        check_range(start, end)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return observation_bundle(patient, store.query_rollups(patient.id, start, end))
