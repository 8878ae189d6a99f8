"""``/api/v1/audit``: the audit log of patient-data access (admin only)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from dorsi.server.api_models import AuditEntryPublic, AuditPagePublic
from dorsi.server.deps import CurrentAdmin, RegistryDep

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
MAX_AUDIT_PAGE = 1000


def _utc(name: str, moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"give {name} in UTC (…Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} is out of range"
        ) from None


@router.get("", responses={403: {"description": "admin role required"}})
def read_audit_log(
    admin: CurrentAdmin,
    registry: RegistryDep,
    patient: Annotated[str | None, Query(max_length=128, description="one patient id")] = None,
    user: Annotated[str | None, Query(max_length=64, description="one username")] = None,
    since: Annotated[datetime | None, Query(description="from this UTC time (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="to this UTC time (exclusive)")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="entries with a smaller id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = 100,
) -> AuditPagePublic:
    """Who listed, viewed, exported, reported on, created or changed which patient's data,
    newest first, with outcome ``ok``, ``denied`` (not their patient) or ``failed``."""
    entries = registry.audit.query(
        patient_id=patient,
        username=user,
        since=_utc("since", since),
        until=_utc("until", until),
        before_id=before,
        limit=limit,
    )
    return AuditPagePublic(
        entries=[AuditEntryPublic.model_validate(asdict(e)) for e in entries],
        next_before=entries[-1].id if len(entries) == limit else None,
    )
