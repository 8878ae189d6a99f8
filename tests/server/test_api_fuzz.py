"""Schemathesis fuzzing of the HTTP API from its own OpenAPI document: no operation answers 5xx.

Every operation is fuzzed as an admin and as a therapist, with schema-valid and schema-violating
inputs (path, query and body) and with the patient id sometimes one the caller may see, sometimes
someone else's, sometimes made up. The app runs on the SQLite store (no influxd). Derandomised
(the same examples every run) and bounded: :data:`MAX_EXAMPLES` per operation and role.

Deeper local runs: ``DORSI_FUZZ_EXAMPLES=500 DORSI_FUZZ_SEED=7`` in the environment (a seed
replaces the fixed derandomised examples).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from dorsi.server.app import create_app
from dorsi.server.registry import Registry
from dorsi.server.settings import Settings
from dorsi.server.store import Store
from tests.server.clinic import ALICE_PATIENT, BOB_PATIENT, Clinic, make_clinic
from tests.server.routes_catalog import QUERY

MAX_EXAMPLES = int(os.environ.get("DORSI_FUZZ_EXAMPLES", "25"))
SEED = os.environ.get("DORSI_FUZZ_SEED")
SLOW_EXAMPLES = min(MAX_EXAMPLES, 10)
"""Examples for the PDF reports: each valid one renders a multi-chart PDF (≈ 1 s)."""
ROLES = ("admin", "alice")
PATIENT_IDS = (ALICE_PATIENT, BOB_PATIENT)
LOGOUT = ("POST", "/api/v1/auth/logout")


def _spec_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the OpenAPI document (the app is built unserved)."""
    app = create_app(Settings(), cast(Store, None), cast(Registry, None))
    return sorted(
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    )


OPERATIONS = _spec_operations()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Clinic, Any]]:
    clinic = make_clinic(tmp_path_factory.mktemp("fuzz"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", clinic.app)
    yield clinic, schema
    clinic.close()


DATE_PARAMS = ("start", "end", "a_start", "a_end", "b_start", "b_end")


def _plausible_dates(spec: dict[str, Any], method: str, path: str) -> dict[str, str]:
    """Dates of the seeded data for the operation's date parameters (other values fuzzed)."""
    found = {}
    for p in spec["paths"][path][method.lower()].get("parameters", []):
        if p["in"] == "query" and p["name"] in DATE_PARAMS:
            value = QUERY[p["name"]]
            found[p["name"]] = value[p["schema"]["format"]] if isinstance(value, dict) else value
    return found


def _cases(operation: Any, dates: dict[str, str]) -> st.SearchStrategy[Any]:
    """Valid and invalid cases; for patient routes also with known patient ids and dates of
    the seeded data, so that the fuzzer also reaches the code that returns data."""
    strategies = [
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    ]
    if "{patient_id}" in operation.path:
        strategies += [
            operation.as_strategy(path_parameters={"patient_id": patient_id}, query=dates or None)
            for patient_id in PATIENT_IDS
        ]
    return st.one_of(strategies)


def test_every_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 14
    assert {("GET", "/api/v1/patients/{patient_id}/strides.csv"), LOGOUT} <= set(OPERATIONS)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors(fuzzed: tuple[Clinic, Any], role: str, method: str, path: str) -> None:
    clinic, schema = fuzzed
    operation = schema[path][method]
    headers = clinic.bearer(role)
    calls: list[int] = []

    @settings(
        max_examples=SLOW_EXAMPLES if path.endswith(".pdf") else MAX_EXAMPLES,
        derandomize=SEED is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, _plausible_dates(clinic.app.openapi(), method, path)))
    def fuzz(case: Any) -> None:
        # Logging out ends the session; every logout example gets a session of its own.
        auth = clinic.bearer(role) if (method, path) == LOGOUT else headers
        response = case.call(headers=auth)
        calls.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    if SEED is not None:
        fuzz = seed(int(SEED))(fuzz)
    started = time.perf_counter()
    fuzz()
    elapsed = time.perf_counter() - started
    assert calls, "no example was run"
    statuses = dict(sorted(Counter(calls).items()))
    print(f"{method} {path} as {role}: {len(calls)} requests in {elapsed:.2f} s {statuses}")


def test_fuzzing_reaches_the_data(fuzzed: tuple[Clinic, Any]) -> None:
    """The fuzzed app holds data: an admin's valid request gets it (so 2xx paths are fuzzed)."""
    clinic, _ = fuzzed
    reply = clinic.client.get(
        f"/api/v1/patients/{ALICE_PATIENT}/strides?start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z",
        headers=clinic.bearer("admin"),
    )
    assert reply.status_code == 200
    assert len(reply.json()["strides"]) > 100
    assert Path(clinic.registry.path).exists()


DASHBOARD_QUERIES = {
    f"/dashboard/patients/{ALICE_PATIENT}": ("range", "end"),
    f"/dashboard/patients/{ALICE_PATIENT}/report.pdf": ("start", "end"),
    f"/dashboard/patients/{ALICE_PATIENT}/fhir.json": ("start", "end"),
    f"/home/{ALICE_PATIENT}": ("key",),
}
VALUES = st.one_of(
    st.dates().map(str),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 1, 1)).map(str),
    st.sampled_from(["2w", "1m", "24m", "", "0000-00-00", "2026-02-30"]),
    st.text(max_size=16),
)


@pytest.mark.parametrize("page", sorted(DASHBOARD_QUERIES))
def test_dashboard_pages_never_fail(fuzzed: tuple[Clinic, Any], page: str) -> None:
    """The dashboard routes are not in the OpenAPI document: fuzz their query strings here."""
    clinic, _ = fuzzed
    browser = clinic.browser("alice", ip="10.0.0.99")  # the API fuzz used up testclient's log-ins
    names = DASHBOARD_QUERIES[page]

    @settings(
        max_examples=SLOW_EXAMPLES if page.endswith(".pdf") else MAX_EXAMPLES,
        derandomize=SEED is None,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(values=st.tuples(*(VALUES for _ in names)))
    def fuzz(values: tuple[str, ...]) -> None:
        reply = browser.get(page, params=dict(zip(names, values, strict=True)))
        assert reply.status_code < 500, (page, values, reply.text[:300])

    fuzz()
