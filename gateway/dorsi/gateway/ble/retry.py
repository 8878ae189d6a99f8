"""Retry policy for the BLE link as pure functions over named constants (no radio needed to test).

Modelled on what mature BLE integrations do (bleak-retry-connector): a few quick retries for the
transient errors BlueZ is known for ("InProgress", a stale GATT cache, a device that vanished from
the adapter's cache), then exponential backoff with jitter and a fresh scan before every attempt.
"""

from __future__ import annotations

import random

CONNECT_TIMEOUT_S = 20.0
"""Upper bound for one connect + GATT setup attempt."""
SCAN_TIMEOUT_S = 15.0
"""How long one scan for the sensor lasts before the attempt counts as failed."""
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 60.0
"""Backoff between attempts grows from BACKOFF_BASE_S to at most BACKOFF_MAX_S."""
QUICK_RETRIES = 3
"""Transient errors are retried this many times with a short pause before backing off."""
QUICK_RETRY_PAUSE_S = 0.25
REQUEST_TIMEOUT_S = 5.0
"""How long a control-point request waits for its indicated response."""

_TRANSIENT_MARKERS = (
    "org.bluez.Error.InProgress",
    "InProgress",
    "Operation already in progress",
    "org.bluez.Error.Failed",
    "le-connection-abort-by-local",
    "br-connection-canceled",
    "Software caused connection abort",
    "ESP_GATT_CONN_FAIL_ESTABLISH",
    "was not found",
    "not found",
    "Service Discovery has not been performed",
    "services changed",
    "stale",
    "disconnected",
    "timed out",
    "Timeout",
)


def backoff_s(attempt: int, *, rng: random.Random | None = None) -> float:
    """Pause before connection ``attempt`` (0-based), seconds: exponential with ±25 % jitter.

    Raises:
        ValueError: negative attempt.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    base = min(BACKOFF_MAX_S, BACKOFF_BASE_S * (2.0 ** min(attempt, 30)))
    jitter = (rng or random).uniform(0.75, 1.25)
    return min(BACKOFF_MAX_S, base * jitter)


def is_transient(error: BaseException) -> bool:
    """True for errors worth a quick retry (BlueZ busy, stale cache, link dropped during setup)."""
    if isinstance(error, TimeoutError | ConnectionError | EOFError):
        return True
    text = f"{type(error).__name__}: {error}"
    return any(marker.lower() in text.lower() for marker in _TRANSIENT_MARKERS)


def pause_before(
    attempt: int, error: BaseException | None, *, rng: random.Random | None = None
) -> float:
    """Seconds to wait before the next attempt after ``attempt`` failures ending in ``error``."""
    if error is not None and is_transient(error) and attempt < QUICK_RETRIES:
        return QUICK_RETRY_PAUSE_S
    return backoff_s(max(0, attempt - QUICK_RETRIES), rng=rng)
