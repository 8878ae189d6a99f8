"""Dashboard fixtures: one seeded clinic (SQLite store, real registry) served by uvicorn on a free
loopback port, and a headless Debian chromium driven by Selenium."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from dorsi.server.app import create_app
from dorsi.server.registry import Registry
from dorsi.server.settings import Settings
from dorsi.server.sqlite_store import SQLiteStore
from tests.conftest import free_port, wait_for_port
from tests.dashboard.seed import seed_clinic

PASSWORD = "correct horse battery"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # real argon2id, cheap
ROOT = Path(__file__).resolve().parents[2]
IMG_DIR = Path(os.environ.get("DORSI_SCREENSHOTS", ROOT / "out" / "screenshots"))
"""Where browser and report tests save their pictures (look at them!). To refresh the ones in
the docs: DORSI_SCREENSHOTS=docs/img scripts/test.sh tests/dashboard"""


@dataclass
class Clinic:
    """A seeded clinic: the app, its store and registry, and the URL it is served at."""

    app: FastAPI
    store: SQLiteStore
    registry: Registry
    url: str


@pytest.fixture(scope="session")
def clinic() -> Iterator[Clinic]:
    """24 months of p-ann, two weeks of p-carl (alice) and p-ben (bob), served over HTTP."""
    workdir = Path(tempfile.mkdtemp(prefix="dorsi-dashboard-"))
    store = SQLiteStore(workdir / "data.sqlite")
    store.bootstrap()
    registry = Registry(workdir / "registry.sqlite", hasher=FAST_HASHER)
    registry.create_user("alice", PASSWORD)
    registry.create_user("bob", PASSWORD)
    seed_clinic(store, registry, datetime.now(UTC).date())
    settings = Settings(secret_key="dashboard-test-secret-key-0123456789")
    app = create_app(settings, store, registry)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield Clinic(app, store, registry, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
        registry.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _require_chromium() -> tuple[str, str]:
    paths = [shutil.which("chromium"), shutil.which("chromedriver")]
    if None in paths:
        message = "chromium/chromedriver missing (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return paths[0] or "", paths[1] or ""


@pytest.fixture(scope="session")
def browser_factory() -> Iterator[object]:
    """A callable making headless chromium sessions (each with its own profile and downloads)."""
    chromium, chromedriver = _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made: list[tuple[webdriver.Chrome, Path]] = []

    def make() -> tuple[webdriver.Chrome, Path]:
        profile = Path(tempfile.mkdtemp(prefix="dorsi-chromium-"))
        downloads = profile / "downloads"
        downloads.mkdir()
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000",
            "--force-device-scale-factor=1",
        ):  # fmt: skip
            options.add_argument(flag)
        options.add_experimental_option(
            "prefs",
            {"download.default_directory": str(downloads), "download.prompt_for_download": False},
        )
        driver = webdriver.Chrome(options=options, service=Service(chromedriver))
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        made.append((driver, profile))
        return driver, downloads

    yield make
    for driver, profile in made:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for_file(directory: Path, suffix: str, timeout_s: float = 20.0) -> Path:
    """The first completely downloaded file with ``suffix`` in ``directory``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = [p for p in directory.glob(f"*{suffix}") if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.1)
    raise TimeoutError(f"no *{suffix} in {directory} after {timeout_s} s")
