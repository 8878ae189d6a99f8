"""The BLE retry policy, without a radio."""

from __future__ import annotations

import random

import pytest
from bleak.exc import BleakError

from dorsi.gateway.ble import retry


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    pauses = [retry.backoff_s(a, rng=rng) for a in range(20)]
    assert pauses[0] <= retry.BACKOFF_BASE_S * 1.25
    assert pauses[5] > pauses[0] * 8
    assert max(pauses) <= retry.BACKOFF_MAX_S
    assert pauses[-1] >= retry.BACKOFF_MAX_S * 0.75


def test_backoff_has_jitter_so_gateways_do_not_retry_in_lockstep() -> None:
    values = {round(retry.backoff_s(4, rng=random.Random(seed)), 6) for seed in range(20)}
    assert len(values) > 10


def test_raises() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        retry.backoff_s(-1)


@pytest.mark.parametrize(
    "error",
    [
        BleakError("org.bluez.Error.InProgress"),
        BleakError("Device with address AA:BB was not found"),
        BleakError("Service Discovery has not been performed yet"),
        TimeoutError(),
        ConnectionError("sensor disconnected"),
    ],
)
def test_transient_errors_get_quick_retries(error: BaseException) -> None:
    assert retry.is_transient(error)
    assert retry.pause_before(0, error) == retry.QUICK_RETRY_PAUSE_S
    assert retry.pause_before(retry.QUICK_RETRIES, error) >= retry.BACKOFF_BASE_S * 0.75


def test_other_errors_back_off_at_once() -> None:
    error = BleakError("org.bluez.Error.NotPermitted")
    assert not retry.is_transient(error)
    assert retry.pause_before(0, error, rng=random.Random(0)) >= retry.BACKOFF_BASE_S * 0.75
