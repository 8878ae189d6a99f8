"""Contract: every payload the gateway's builder makes passes the server's validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dorsi.server.validate import ActivityIn, BatteryIn, StatusIn, StridesIn, read_message

payloads = pytest.importorskip("dorsi.gateway.payloads")

NOW = datetime.now(UTC)
T0 = NOW - timedelta(hours=1)


def source() -> object:
    return payloads.Source("p-7f3a", "dorsi-1a2b", "left", "gw-livingroom", "dorsi-signal 0.1.0")


def test_gateway_strides_pass() -> None:
    strides = []
    for i in range(20):
        stride_s, stance_s = 1.0 + 0.013 * i, 0.62 + 0.007 * i
        ic = T0 + timedelta(seconds=1.5 * i)
        metrics = {
            "stride_time_s": stride_s,
            "stance_time_s": stance_s,
            "swing_time_s": stride_s - stance_s,
            "cadence_spm": 120.0 / stride_s,
            "stride_length_m": 1.1,
            "gait_speed_mps": 1.0,
            "foot_strike_angle_deg": -2.0 + i,
            "toe_off_angle_deg": -55.0,
            "midswing_pitch_deg": -3.0,
            "peak_swing_pitch_deg": 10.0,
            "min_toe_clearance_cm": None if i % 5 == 0 else 1.2,
            "foot_slap": i % 2,
            "slap_score": 1.5 if i % 2 else 0.2,
            "toe_drag": 0,
            "drag_score": 0.1,
            "turn": 0,
            "bout": 3,
            "quality": 0.9,
        }
        strides.append(
            payloads.stride_fields(
                metrics,
                ic_t=ic,
                to_t=ic + timedelta(seconds=stance_s),
                next_ic_t=ic + timedelta(seconds=stride_s),
            )
        )
    message = payloads.strides_message(source(), strides)
    result = read_message("dorsi/v1/p-7f3a/dorsi-1a2b/strides", message, now=NOW)
    assert isinstance(result, StridesIn), getattr(result, "reason", "")
    assert not result.rejected, [r.reason for r in result.rejected]
    assert len(result.strides) == 20


def test_gateway_activity_battery_status_pass() -> None:
    minute = T0.replace(second=0, microsecond=0)
    activity = payloads.activity_message(
        source(),
        [{"t": minute, "state": "walking", "worn_s": 60, "walking_s": 41.5, "strides": 38}],
    )
    topic = "dorsi/v1/p-7f3a/dorsi-1a2b/"
    result = read_message(topic + "activity", activity, now=NOW)
    assert isinstance(result, ActivityIn)
    assert not result.rejected
    battery = payloads.battery_message(source(), t=T0, battery_pct=87)
    assert isinstance(read_message(topic + "battery", battery, now=NOW), BatteryIn)
    status = payloads.status_message(source(), state="online", t=T0, link="connected")
    assert isinstance(read_message(topic + "status", status, now=NOW), StatusIn)


def _one_stride(**overrides: object) -> dict[str, object]:
    metrics: dict[str, object] = {
        "stride_time_s": 1.1,
        "stance_time_s": 0.66,
        "swing_time_s": 0.44,
        "cadence_spm": 120.0 / 1.1,
        "stride_length_m": 1.1,
        "gait_speed_mps": 1.0,
        "foot_strike_angle_deg": 12.0,
        "toe_off_angle_deg": -55.0,
        "midswing_pitch_deg": -3.0,
        "peak_swing_pitch_deg": 10.0,
        "min_toe_clearance_cm": 1.2,
        "foot_slap": 0,
        "slap_score": 0.2,
        "toe_drag": 0,
        "drag_score": 0.1,
        "turn": 0,
        "bout": 3,
        "quality": 0.9,
        **overrides,
    }
    return dict(
        payloads.stride_fields(
            metrics,
            ic_t=T0,
            to_t=T0 + timedelta(seconds=0.66),
            next_ic_t=T0 + timedelta(seconds=1.1),
        )
    )


@pytest.mark.parametrize("name", sorted(payloads.PLAUSIBLE_RANGES))
def test_gateway_bounds_are_the_servers(name: str) -> None:
    """At each bound the value is sent and accepted; just beyond it the gateway sends null (an
    estimation artefact) and the stride is still accepted, not dead-lettered whole."""
    lo, hi = payloads.PLAUSIBLE_RANGES[name]
    for value, sent in ((lo, lo), (hi, hi), (lo - 0.01, None), (hi + 0.01, None)):
        stride = _one_stride(**{name: value})
        assert stride[name] == sent, (name, value)
        message = payloads.strides_message(source(), [stride])
        result = read_message("dorsi/v1/p-7f3a/dorsi-1a2b/strides", message, now=NOW)
        assert isinstance(result, StridesIn), getattr(result, "reason", "")
        assert not result.rejected, (name, value, [r.reason for r in result.rejected])
    above = _one_stride(**{name: hi + 0.01})
    above[name] = hi + 0.01  # what the gateway would have sent before: the server refuses it
    result = read_message(
        "dorsi/v1/p-7f3a/dorsi-1a2b/strides",
        payloads.strides_message(source(), [above]),
        now=NOW,
    )
    assert isinstance(result, StridesIn)
    assert result.rejected
