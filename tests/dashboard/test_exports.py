"""PDF report and FHIR export through the bearer-token API: the PDF renders to non-blank PNG
pages (pdftoppm), the Bundle validates as FHIR (fhir.resources, R4B models = R4 Observation)."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_tool
from tests.dashboard.conftest import IMG_DIR, PASSWORD, Clinic


def bearer(clinic: Clinic, username: str) -> httpx.Client:
    token = httpx.post(
        f"{clinic.url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    ).json()["access_token"]
    return httpx.Client(
        base_url=clinic.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def window(days: int) -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"start": str(today - timedelta(days=days - 1)), "end": str(today)}


def test_fhir_bundle_validates_and_carries_the_codes(clinic: Clinic) -> None:
    try:
        from fhir.resources.R4B.bundle import Bundle
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("fhir.resources is missing (requirements-dev.txt)")
        pytest.skip("fhir.resources is missing")

    reply = bearer(clinic, "alice").get("/api/v1/patients/p-ann/fhir", params=window(14))
    assert reply.status_code == 200
    bundle = Bundle.model_validate(reply.json())
    observations = [e.resource for e in bundle.entry or []]
    assert observations
    assert all(o.category[0].coding[0].code == "activity" for o in observations)
    codes = {(o.code.coding[0].system, o.code.coding[0].code) for o in observations}
    assert ("http://loinc.org", "41950-7") in codes
    steps = [o for o in observations if o.code.coding[0].code == "41950-7"]
    assert len(steps) == 14
    first, last = (datetime.fromisoformat(d).date() for d in window(14).values())
    rollups = clinic.store.query_rollups("p-ann", first, last, metrics=[])
    assert sorted(float(o.valueQuantity.value) for o in steps) == sorted(
        2.0 * r.strides for r in rollups
    )
    assert {"walkingSpeed", "stepsCadence", "foot-slap-percent", "min-toe-clearance"} <= {
        c for _, c in codes
    }
    ids = [o.id for o in observations]
    assert len(ids) == len(set(ids))


def test_fhir_of_another_therapists_patient_is_404(clinic: Clinic) -> None:
    reply = bearer(clinic, "alice").get("/api/v1/patients/p-ben/fhir", params=window(14))
    assert reply.status_code == 404


def test_pdf_report_renders_non_blank_pages(clinic: Clinic, tmp_path: Path) -> None:
    pdftoppm = require_tool("pdftoppm")
    reply = bearer(clinic, "alice").get("/api/v1/patients/p-ann/report.pdf", params=window(365))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(reply.content)
    subprocess.run([pdftoppm, "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3  # summary + two pages of six charts
    from matplotlib.image import imread

    for page in pages:
        pixels = imread(page)[..., :3]
        ink = (pixels.mean(axis=2) < 0.6).mean()
        assert ink > 0.01, f"{page.name} is blank ({ink:.4f} dark pixels)"
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(pages, start=1):
        (IMG_DIR / f"dashboard_report_p{i}.png").write_bytes(page.read_bytes())


def test_pdf_range_is_checked(clinic: Clinic) -> None:
    client = bearer(clinic, "alice")
    bad = {"start": "2026-03-01", "end": "2026-02-01"}
    assert client.get("/api/v1/patients/p-ann/report.pdf", params=bad).status_code == 422
