"""Server test fixtures: a real influxd (Debian's 1.6.7) on free loopback ports, with auth on."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, require_tool

INFLUX_USER = "dorsi-admin"
INFLUX_PASSWORD = "test-password-not-secret"


class InfluxServer:
    """A real influxd in the foreground with a temp config; restartable (data dir survives)."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_tool("influxd")
        self.workdir = workdir
        self.port = free_port()
        self.rpc_port = free_port()
        self.username = INFLUX_USER
        self.password = INFLUX_PASSWORD
        self.config = workdir / "influxdb.conf"
        self.config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{workdir}/meta"\n'
            f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n'
            "  query-log-enabled = false\n  trace-logging-enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
            "[subscriber]\n  enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  auth-enabled = true\n'
            "  log-enabled = false\n"
            '[logging]\n  level = "warn"\n'
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "influxd.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-config", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"influxd exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"influxd did not answer /ping: {self.log.read_text()[-2000:]}")

    def create_admin(self) -> None:
        """The first user of an auth-enabled influxd may be created without credentials."""
        query = (
            f"CREATE USER \"{self.username}\" WITH PASSWORD '{self.password}' WITH ALL PRIVILEGES"
        )
        response = httpx.post(f"{self.url}/query", data={"q": query}, timeout=10)
        response.raise_for_status()

    def stop(self) -> None:
        """Graceful stop (SIGTERM)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def kill(self) -> None:
        """Abrupt stop (SIGKILL); the WAL keeps acknowledged writes."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture(scope="session")
def influxd() -> Iterator[InfluxServer]:
    """One influxd for the session; tests isolate themselves with a fresh database each."""
    workdir = Path(tempfile.mkdtemp(prefix="dorsi-influxd-"))
    server = InfluxServer(workdir)
    server.start()
    try:
        server.create_admin()
        yield server
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def influx_db(influxd: InfluxServer) -> Iterator[str]:
    """A database name unique to the test, dropped afterwards."""
    name = f"dorsi_{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(
            f"{influxd.url}/query",
            data={"q": f'DROP DATABASE "{name}"'},
            auth=(influxd.username, influxd.password),
            timeout=10,
        )
