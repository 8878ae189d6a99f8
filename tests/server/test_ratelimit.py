"""Log-in throttling: the pure throttle on a fake clock, then the JSON and the form log-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dorsi.server.ratelimit import LoginLimits, LoginLockedError, LoginThrottle
from dorsi.server.settings import SecuritySettings, Settings
from dorsi.server.web.session import SESSION_COOKIE
from tests.server.clinic import PASSWORD, SECRET, Clinic, make_clinic, web_login

WINDOW_S = 900.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, username: str, ip: str = "10.0.0.1") -> None:
    throttle.begin(username, ip)  # never marked succeeded: counts as a failure


def test_empty() -> None:
    throttle = LoginThrottle(clock=FakeClock())
    assert throttle.failures("user", "alice") == 0
    assert throttle.tracked("user") == throttle.tracked("ip") == 0


def test_basic_locks_after_five_failures_for_the_rest_of_the_window() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(LoginLimits(window_s=WINDOW_S), clock=clock)
    for _ in range(5):
        fail(throttle, "alice")
        clock.now += 10
    assert throttle.failures("user", "alice") == 5
    with pytest.raises(LoginLockedError, match="too many failed log-ins for this account") as exc:
        throttle.begin("Alice", "10.9.9.9")  # other address, other case: the account is locked
    assert exc.value.scope == "user"
    assert exc.value.retry_after_s == WINDOW_S - 50  # the first failure leaves the window then
    clock.now += WINDOW_S - 50 - 1
    with pytest.raises(LoginLockedError):
        throttle.begin("alice", "10.0.0.1")
    clock.now += 1
    attempt = throttle.begin("alice", "10.0.0.1")  # one slot free again
    with pytest.raises(LoginLockedError):
        throttle.begin("alice", "10.0.0.1")
    throttle.succeeded(attempt)
    assert throttle.failures("user", "alice") == 0
    throttle.begin("alice", "10.0.0.1")


def test_success_resets_the_username_but_not_the_address() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(LoginLimits(max_failures_per_ip=6), clock=clock)
    for _ in range(4):
        fail(throttle, "alice")
    throttle.succeeded(throttle.begin("alice", "10.0.0.1"))
    assert throttle.failures("user", "alice") == 0
    assert throttle.failures("ip", "10.0.0.1") == 4
    fail(throttle, "bob")
    fail(throttle, "carol")
    with pytest.raises(LoginLockedError, match="this network address") as exc:
        throttle.begin("dave", "10.0.0.1")
    assert exc.value.scope == "ip"
    throttle.begin("dave", "10.0.0.2")


def test_parallel_attempts_count_before_the_password_is_checked() -> None:
    throttle = LoginThrottle(clock=FakeClock())
    started = [throttle.begin("alice", "10.0.0.1") for _ in range(5)]
    with pytest.raises(LoginLockedError):
        throttle.begin("alice", "10.0.0.1")
    throttle.succeeded(started[0])
    throttle.begin("alice", "10.0.0.1")


def test_memory_is_bounded() -> None:
    clock = FakeClock()
    limits = LoginLimits(max_tracked_keys=100, max_failures_per_ip=10**5)
    throttle = LoginThrottle(limits, clock=clock)
    for i in range(1000):
        fail(throttle, f"user-{i}")
        clock.now += 0.001
    assert throttle.tracked("user") == 100
    assert throttle.failures("user", "user-999") == 1  # the newest are kept
    assert throttle.failures("user", "user-0") == 0


def test_raises() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LoginLimits(max_failures_per_user=0)
    with pytest.raises(ValueError, match="window_s"):
        LoginLimits(window_s=0)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    made = make_clinic(tmp_path)
    clock = FakeClock()
    made.app.state.login_throttle = LoginThrottle(
        made.settings.security.login_limits(), clock=clock
    )
    made.app.state.test_clock = clock
    yield made
    made.close()


def api_login(clinic: Clinic, username: str, password: str, ip: str = "testclient") -> int:
    client = clinic.browser(ip=ip)
    reply = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    if reply.status_code == 429:
        retry = int(reply.headers["retry-after"])
        assert 0 < retry <= WINDOW_S
        assert "too many failed log-ins" in reply.json()["detail"]
        assert "access_token" not in reply.text
    status: int = reply.status_code
    return status


def test_api_login_locks_the_account_even_for_the_right_password(clinic: Clinic) -> None:
    assert [api_login(clinic, "alice", "wrong password") for _ in range(5)] == [401] * 5
    assert api_login(clinic, "alice", PASSWORD) == 429
    assert api_login(clinic, "ALICE", PASSWORD, ip="10.1.1.1") == 429
    assert api_login(clinic, "bob", PASSWORD) == 200  # the address is not locked
    clinic.app.state.test_clock.now += WINDOW_S
    assert api_login(clinic, "alice", PASSWORD) == 200


def test_api_success_resets_the_username_counter(clinic: Clinic) -> None:
    statuses = [api_login(clinic, "alice", "wrong password") for _ in range(4)]
    statuses.append(api_login(clinic, "alice", PASSWORD))
    statuses += [api_login(clinic, "alice", "wrong password") for _ in range(5)]
    statuses.append(api_login(clinic, "alice", PASSWORD))
    assert statuses == [401] * 4 + [200] + [401] * 5 + [429]


def test_api_login_locks_an_address_that_guesses_many_names(clinic: Clinic) -> None:
    assert {api_login(clinic, f"user{i}", "guess guess", ip="10.6.6.6") for i in range(20)} == {401}
    assert api_login(clinic, "alice", PASSWORD, ip="10.6.6.6") == 429
    assert api_login(clinic, "alice", PASSWORD, ip="10.7.7.7") == 200


def test_limits_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        secret_key=SECRET,
        security=SecuritySettings(login_max_failures_per_user=2, login_window_s=60),
    )
    clinic = make_clinic(tmp_path, settings)
    try:
        assert [api_login(clinic, "alice", "nope nope") for _ in range(2)] == [401, 401]
        client = clinic.browser()
        reply = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
        assert reply.status_code == 429
        assert 0 < int(reply.headers["retry-after"]) <= 60
    finally:
        clinic.close()


def test_web_login_is_throttled_and_shares_the_counter_with_the_api(clinic: Clinic) -> None:
    browser = clinic.browser()
    for _ in range(3):
        reply = web_login(browser, "alice", "wrong password")
        assert reply.status_code == 303
        assert reply.headers["location"] == "/dashboard/login?error=1"
    assert [api_login(clinic, "alice", "wrong password") for _ in range(2)] == [401, 401]
    reply = web_login(browser, "alice", PASSWORD)
    assert reply.status_code == 429
    assert 0 < int(reply.headers["retry-after"]) <= WINDOW_S
    assert "too many failed log-ins for this account; try again in 15 min" in reply.text
    assert SESSION_COOKIE not in reply.headers.get("set-cookie", "")
    assert browser.get("/dashboard/").status_code == 303  # still not logged in
    clinic.app.state.test_clock.now += WINDOW_S
    assert web_login(browser, "alice", PASSWORD).status_code == 303
    assert browser.get("/dashboard/").status_code == 200


def test_csrf_failures_do_not_count(clinic: Clinic) -> None:
    browser = clinic.browser()
    browser.get("/dashboard/login")
    for _ in range(10):
        reply = browser.post(
            "/dashboard/login",
            data={"csrf_token": "forged", "username": "alice", "password": "wrong"},
        )
        assert reply.status_code == 403
    assert api_login(clinic, "alice", PASSWORD) == 200
