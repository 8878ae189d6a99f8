"""Payloads of docs/mqtt.md: exact field names, UTC times, no NaN, batching keeps order."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dorsi.gateway.payloads import (
    STRIDE_METRIC_FIELDS,
    Source,
    battery_message,
    merge_stride_messages,
    status_message,
    stride_fields,
    strides_message,
    utc_iso,
)
from dorsi.gateway.topics import DeviceTopics, Kind

SOURCE = Source("p-7f3a", "dorsi-1a2b", "left", "gw-1", "dorsi-signal 0.1.0")
T0 = datetime(2026, 11, 28, 15, 20, 25, 123456, tzinfo=UTC)


def _metrics(**over: float | None) -> dict[str, float | None]:
    base: dict[str, float | None] = {name: 1.0 for name in STRIDE_METRIC_FIELDS}
    base.update(over)
    return base


def test_topics_follow_the_layout() -> None:
    topics = DeviceTopics("p-7f3a", "dorsi-1a2b")
    assert topics.strides == "dorsi/v1/p-7f3a/dorsi-1a2b/strides"
    assert topics.topic(Kind.STATUS).endswith("/status")


@pytest.mark.parametrize("bad", ["", "a/b", "a+b", "#", "with space", "x" * 65])
def test_topic_ids_that_would_break_the_acl_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not valid"):
        DeviceTopics(bad, "dorsi-1")


def test_utc_iso_is_utc_with_microseconds() -> None:
    cet = timezone(timedelta(hours=1))
    assert utc_iso(T0.astimezone(cet)) == "2026-11-28T15:20:25.123456Z"
    assert utc_iso(T0.timestamp()) == "2026-11-28T15:20:25.123456Z"
    with pytest.raises(ValueError, match="naive"):
        utc_iso(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="not finite"):
        utc_iso(math.nan)


def test_stride_message_basic() -> None:
    stride = stride_fields(
        _metrics(foot_slap=1.0, bout=3.0),
        ic_t=T0,
        to_t=T0 + timedelta(seconds=0.7),
        next_ic_t=T0 + timedelta(seconds=1.1),
    )
    message = json.loads(strides_message(SOURCE, [stride]))
    assert message["schema"] == "dorsi.strides/1"
    assert message["patient"] == "p-7f3a"
    assert message["device"] == "dorsi-1a2b"
    assert message["side"] == "left"
    (out,) = message["strides"]
    assert set(out) == {"ic_t", "to_t", "next_ic_t", *STRIDE_METRIC_FIELDS}
    assert out["ic_t"] == "2026-11-28T15:20:25.123456Z"
    assert out["foot_slap"] == 1
    assert isinstance(out["bout"], int)


def test_missing_or_nan_metrics_are_refused_except_trajectory_ones() -> None:
    times = {"ic_t": T0, "to_t": T0, "next_ic_t": T0}
    with pytest.raises(ValueError, match="'stride_time_s' is missing"):
        stride_fields(_metrics(stride_time_s=None), **times)
    with pytest.raises(ValueError, match="not finite"):
        stride_fields(_metrics(quality=math.nan), **times)
    stride = stride_fields(_metrics(min_toe_clearance_cm=math.nan, stride_length_m=None), **times)
    assert stride["min_toe_clearance_cm"] is None
    assert stride["stride_length_m"] is None


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(STRIDE_METRIC_FIELDS),
            st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_merge_keeps_every_stride_in_order(overrides: list[dict[str, float]]) -> None:
    singles = [
        strides_message(
            SOURCE,
            [stride_fields(_metrics(**o), ic_t=T0 + timedelta(seconds=i), to_t=T0, next_ic_t=T0)],
        )
        for i, o in enumerate(overrides)
    ]
    merged = json.loads(merge_stride_messages(singles))
    expected = [json.loads(s)["strides"][0] for s in singles]
    assert merged["strides"] == expected
    assert merged["patient"] == SOURCE.patient


def test_merge_refuses_mixed_sources() -> None:
    other = Source("p-other", "dorsi-1a2b", "left", "gw-1", "x")
    stride = stride_fields(_metrics(), ic_t=T0, to_t=T0, next_ic_t=T0)
    with pytest.raises(ValueError, match="different sources"):
        merge_stride_messages([strides_message(SOURCE, [stride]), strides_message(other, [stride])])


def test_battery_and_status() -> None:
    assert json.loads(battery_message(SOURCE, t=T0, battery_pct=87))["battery_pct"] == 87
    with pytest.raises(ValueError, match="outside 0-100"):
        battery_message(SOURCE, t=T0, battery_pct=101)
    will = json.loads(status_message(SOURCE, state="offline"))
    assert will["state"] == "offline"
    assert will["t"] is None
