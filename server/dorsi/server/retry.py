"""Retry policy as pure functions over named constants (no I/O, unit-tested without a store)."""

from __future__ import annotations

BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 2.0


def backoff_s(
    attempt: int, *, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): doubling from base, capped."""
    if attempt < 0:
        raise ValueError(f"attempt {attempt} must be >= 0")
    return min(cap_s, base_s * 2.0 ** min(attempt, 32))
