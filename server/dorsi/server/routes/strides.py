"""``/api/v1/patients/{id}/strides``: raw strides for a time range, paginated, and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from dorsi.server.api_models import StridePagePublic, StridePublic
from dorsi.server.audit_http import audited
from dorsi.server.deps import StoreDep, VisiblePatient
from dorsi.server.store import DEFAULT_PAGE, MAX_PAGE, Store, StoreError, StrideRecord

router = APIRouter(prefix="/api/v1/patients/{patient_id}", tags=["strides"])
CSV_COLUMNS = list(StridePublic.model_fields)

Start = Annotated[datetime, Query(description="from this UTC time (inclusive)")]
End = Annotated[datetime, Query(description="to this UTC time (exclusive)")]


def _public(record: StrideRecord) -> StridePublic:
    return StridePublic(
        device=record.device,
        side=record.side,  # type: ignore[arg-type]
        gateway=record.gateway,
        algorithm=record.algorithm,
        **record.stride.model_dump(),
    )


def _check(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give start/end in UTC (…Z)")
    if end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must be after start")


@router.get("/strides", openapi_extra=audited("view"))
def list_strides(
    patient: VisiblePatient,
    store: StoreDep,
    start: Start,
    end: End,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: str | None = None,
) -> StridePagePublic:
    """Strides with ``start <= ic_t < end`` in time order; follow ``next_cursor`` for more."""
    _check(start, end)
    try:
        page = store.query_strides(patient.id, start, end, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except StoreError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return StridePagePublic(
        strides=[_public(r) for r in page.records], next_cursor=page.next_cursor
    )


def _csv_rows(store: Store, patient_id: str, start: datetime, end: datetime) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    cursor: str | None = None
    while True:
        page = store.query_strides(patient_id, start, end, limit=MAX_PAGE, cursor=cursor)
        for record in page.records:
            writer.writerow(_public(record).model_dump())
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        cursor = page.next_cursor
        if cursor is None:
            return


@router.get("/strides.csv", response_class=StreamingResponse, openapi_extra=audited("export"))
def export_strides(
    patient: VisiblePatient, store: StoreDep, start: Start, end: End
) -> StreamingResponse:
    """All strides of the range as CSV (one row per stride, columns as in the JSON)."""
    _check(start, end)
    filename = f"{patient.id}_{start:%Y%m%d}_{end:%Y%m%d}_strides.csv"
    return StreamingResponse(
        _csv_rows(store, patient.id, start, end),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
