"""Partitioned ingest: each patient, with all their devices, has one owner, stably and evenly."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dorsi.server.partition import Partition, owner_of

IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(patient=IDS, devices=st.lists(IDS, min_size=1, max_size=3), count=st.integers(1, 8))
def test_each_patient_has_exactly_one_owner_for_all_devices_and_kinds(
    patient: str, devices: list[str], count: int
) -> None:
    workers = [Partition(i, count) for i in range(count)]
    owners = [w.index for w in workers if w.owns_patient(patient)]
    assert len(owners) == 1
    for device in devices:
        for kind in ("strides", "activity", "battery", "status"):
            topic = f"dorsi/v1/{patient}/{device}/{kind}"
            assert [w.index for w in workers if w.owns(topic)] == owners
            assert owner_of(topic, count) == owners[0]


def test_patients_spread_over_workers() -> None:
    counts = Counter(owner_of(f"dorsi/v1/p-{i}/dorsi-{i:04x}/strides", 3) for i in range(3000))
    assert set(counts) == {0, 1, 2}
    assert min(counts.values()) > 800


def test_one_worker_owns_everything_and_bad_indices_are_refused() -> None:
    assert Partition().owns("anything/at/all")
    with pytest.raises(ValueError, match="worker index"):
        Partition(2, 2)
    with pytest.raises(ValueError, match="worker index"):
        Partition(0, 0)
    with pytest.raises(ValueError, match="worker count"):
        owner_of("dorsi/v1/p/d/strides", 0)
