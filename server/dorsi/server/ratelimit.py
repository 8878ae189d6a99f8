"""Log-in throttling: after too many failed log-ins for one username or from one client address
within a sliding window, further attempts are refused (HTTP 429 with ``Retry-After``) without
checking the password, even when it would be right.

An attempt counts as a failure from the moment it starts, so parallel guesses cannot overtake the
limit; a successful log-in forgets the username's failures and its own attempt. The counters live
in memory: they are per server process and start empty after a restart (dorsi serves the API from
one process). Memory is bounded: at most ``limit`` timestamps per key and ``max_tracked_keys``
keys per scope.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Scope = Literal["user", "ip"]


@dataclass(frozen=True)
class LoginLimits:
    """How many failed log-ins are tolerated within ``window_s`` seconds, per username and per
    client address (a clinic behind one NAT shares an address, hence the higher default)."""

    max_failures_per_user: int = 5
    max_failures_per_ip: int = 20
    window_s: float = 15 * 60.0
    max_tracked_keys: int = 10_000

    def __post_init__(self) -> None:
        if min(self.max_failures_per_user, self.max_failures_per_ip, self.max_tracked_keys) < 1:
            raise ValueError("login limits must be at least 1")
        if not self.window_s > 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s}")


class LoginLockedError(Exception):
    """Too many failed log-ins; ``retry_after_s`` says when the next attempt is allowed."""

    def __init__(self, scope: Scope, retry_after_s: int) -> None:
        self.scope = scope
        self.retry_after_s = retry_after_s
        who = "this account" if scope == "user" else "this network address"
        minutes = max(1, math.ceil(retry_after_s / 60))
        super().__init__(
            f"too many failed log-ins for {who}; try again in {minutes} min "
            "(ask an administrator if you have forgotten your password)"
        )


@dataclass(frozen=True)
class Attempt:
    """A log-in attempt in progress (returned by :meth:`LoginThrottle.begin`)."""

    username_key: str
    ip: str
    started: float


class LoginThrottle:
    """Sliding-window failure counters per username (case-folded) and per client address."""

    def __init__(
        self, limits: LoginLimits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``clock`` returns seconds (monotonic); tests pass a fake one."""
        self.limits = limits or LoginLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[Scope, dict[str, deque[float]]] = {"user": {}, "ip": {}}

    def _limit(self, scope: Scope) -> int:
        limits = self.limits
        return limits.max_failures_per_user if scope == "user" else limits.max_failures_per_ip

    def _recent(self, scope: Scope, key: str, now: float) -> deque[float] | None:
        times = self._failures[scope].get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.limits.window_s:
            times.popleft()
        if not times:
            del self._failures[scope][key]
            return None
        return times

    def _retry_after(self, scope: Scope, key: str, now: float) -> float | None:
        times = self._recent(scope, key, now)
        limit = self._limit(scope)
        if times is None or len(times) < limit:
            return None
        return times[-limit] + self.limits.window_s - now

    def _make_room(self, scope: Scope, now: float) -> None:
        table = self._failures[scope]
        if len(table) < self.limits.max_tracked_keys:
            return
        for key in list(table):
            self._recent(scope, key, now)
        while len(table) >= self.limits.max_tracked_keys:
            del table[min(table, key=lambda k: table[k][-1])]

    def _add(self, scope: Scope, key: str, now: float) -> None:
        times = self._recent(scope, key, now)
        if times is None:
            self._make_room(scope, now)
            times = self._failures[scope][key] = deque(maxlen=self._limit(scope))
        times.append(now)

    def begin(self, username: str, ip: str) -> Attempt:
        """Start an attempt (counted as failed until :meth:`succeeded`).

        Raises:
            LoginLockedError: the username or the address has too many recent failures.
        """
        user_key = username.casefold()
        with self._lock:
            now = self._clock()
            keys: tuple[tuple[Scope, str], ...] = (("user", user_key), ("ip", ip))
            for scope, key in keys:
                wait = self._retry_after(scope, key, now)
                if wait is not None:
                    raise LoginLockedError(scope, max(1, math.ceil(wait)))
            self._add("user", user_key, now)
            self._add("ip", ip, now)
        return Attempt(user_key, ip, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forget the username's failures and this attempt."""
        with self._lock:
            self._failures["user"].pop(attempt.username_key, None)
            times = self._failures["ip"].get(attempt.ip)
            if times is not None and attempt.started in times:
                times.remove(attempt.started)
                if not times:
                    del self._failures["ip"][attempt.ip]

    def failures(self, scope: Scope, key: str) -> int:
        """Failed (or unfinished) attempts of ``key`` within the window."""
        with self._lock:
            times = self._recent(scope, key.casefold() if scope == "user" else key, self._clock())
            return len(times) if times else 0

    def tracked(self, scope: Scope) -> int:
        """How many usernames or addresses have counters (bounded by ``max_tracked_keys``)."""
        with self._lock:
            return len(self._failures[scope])
