"""``/api/v1/patients/{id}/trends`` and ``/compare``: read from daily rollups only."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from dorsi.server.api_models import ComparisonPublic, TrendPointPublic, WindowSummaryPublic
from dorsi.server.audit_http import audited
from dorsi.server.deps import StoreDep, VisiblePatient
from dorsi.server.store import ROLLUP_METRICS
from dorsi.server.trends import check_range, daily_points, summarise, weekly_points

router = APIRouter(prefix="/api/v1/patients/{patient_id}", tags=["trends"])
Metric = Literal[ROLLUP_METRICS]  # type: ignore[valid-type]
SideFilter = Annotated[Literal["left", "right"] | None, Query(description="one side only")]


def _range(first: date, last: date) -> None:
    try:
        check_range(first, last)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


@router.get("/trends", openapi_extra=audited("view"))
def trends(
    patient: VisiblePatient,
    store: StoreDep,
    metric: Metric,
    start: date,
    end: date,
    period: Literal["day", "week"] = "day",
    side: SideFilter = None,
) -> list[TrendPointPublic]:
    """Daily or weekly series of one metric over ``start``–``end`` (inclusive, ≤ 24 months)."""
    _range(start, end)
    rollups = [
        r
        for r in store.query_rollups(patient.id, start, end, metrics=[metric])
        if side in (None, r.side)
    ]
    points = daily_points(rollups, metric) if period == "day" else weekly_points(rollups, metric)
    return [TrendPointPublic.model_validate(p, from_attributes=True) for p in points]


@router.get("/compare", openapi_extra=audited("view"))
def compare(
    patient: VisiblePatient,
    store: StoreDep,
    metric: Metric,
    a_start: date,
    a_end: date,
    b_start: date,
    b_end: date,
    side: SideFilter = None,
) -> ComparisonPublic:
    """Window ``a`` (e.g. baseline) against window ``b`` (e.g. the last 4 weeks)."""
    _range(a_start, a_end)
    _range(b_start, b_end)
    windows = []
    for first, last in ((a_start, a_end), (b_start, b_end)):
        rollups = [
            r
            for r in store.query_rollups(patient.id, first, last, metrics=[metric])
            if side in (None, r.side)
        ]
        windows.append(summarise(rollups, metric, first, last))
    a, b = windows

    def change(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else y - x

    return ComparisonPublic(
        metric=metric,
        side=side,
        a=WindowSummaryPublic.model_validate(a, from_attributes=True),
        b=WindowSummaryPublic.model_validate(b, from_attributes=True),
        mean_change=change(a.mean, b.mean),
        slap_pct_change=change(a.slap_pct, b.slap_pct),
    )
