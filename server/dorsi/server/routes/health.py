"""``/healthz`` and Prometheus ``/metrics`` (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from dorsi.server.deps import MetricsDep, StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep, response: Response) -> dict[str, str]:
    """``ok`` when the store answers, else 503."""
    if store.ping():
        return {"status": "ok", "store": "ok"}
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "degraded", "store": "unavailable"}


@router.get("/metrics", response_class=Response)
def metrics(metrics: MetricsDep) -> Response:
    """Ingest counters, queue depth and write latency in Prometheus text format."""
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")
