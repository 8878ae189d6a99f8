"""``/api/v1/patients/{id}/report.pdf``: the PDF progress report (bearer auth)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, HTTPException, Request, Response, status

from dorsi.server.audit_http import audited
from dorsi.server.deps import RegistryDep, StoreDep, VisiblePatient
from dorsi.server.trends import check_range
from dorsi.server.web.pages import config_of
from dorsi.server.web.views import patient_report

router = APIRouter(prefix="/api/v1/patients/{patient_id}", tags=["reports"])


@router.get("/report.pdf", response_class=Response, openapi_extra=audited("report"))
def report_pdf(
    request: Request,
    patient: VisiblePatient,
    store: StoreDep,
    registry: RegistryDep,
    start: date,
    end: date,
) -> Response:
    """Charts, baseline-vs-recent table, trends and interventions over ``start``–``end``."""
    from dorsi.server.report_pdf import render_report  # matplotlib: import on first use

    try:
        check_range(start, end)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    report = patient_report(store, registry, patient, start, end, config_of(request))
    return Response(
        render_report(report),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="dorsi-{patient.id}-{end}.pdf"'},
    )
