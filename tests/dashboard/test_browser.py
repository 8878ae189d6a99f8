"""The dashboard in a real headless chromium (Selenium + Debian's chromedriver): log in, open a
patient, switch range, read the charts' data from uPlot, download the PDF and the FHIR bundle,
and be refused another therapist's patient. Saves screenshots to out/screenshots/
(DORSI_SCREENSHOTS)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dorsi.server.web.session import home_key
from tests.dashboard.conftest import IMG_DIR, PASSWORD, Clinic, wait_for_file

pytestmark = pytest.mark.slow


def _wait(driver: Any, condition: Callable[[Any], Any], timeout_s: float = 15.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s).until(condition)


def _shot(driver: Any, name: str, height: int | None = None) -> None:
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    full = height or driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(full) + 40, 4000))
    driver.save_screenshot(str(IMG_DIR / f"dashboard_{name}.png"))
    driver.set_window_size(1400, 1000)


def _chart_points(driver: Any) -> dict[str, Any]:
    """Per chart: number of x values and of drawn (non-null) daily means, from uPlot itself."""
    script = """
      const out = {};
      for (const [key, u] of Object.entries(window.dorsiCharts || {})) {
        out[key] = {x: u.data[0].length, points: u.data[1].filter(v => v != null).length,
                    canvas: u.root.querySelector('canvas') !== null};
      }
      return JSON.stringify(out);
    """
    return dict(json.loads(driver.execute_script(script)))


def _login(driver: Any, clinic: Clinic, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{clinic.url}/dashboard/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "patients"))


def test_therapist_journey(clinic: Clinic, browser_factory: Callable[[], Any]) -> None:
    from selenium.webdriver.common.by import By

    driver, downloads = browser_factory()  # type: ignore[misc]
    driver.get(f"{clinic.url}/dashboard/login")
    _shot(driver, "login", height=600)
    _login(driver, clinic, "alice")
    rows = driver.find_elements(By.CSS_SELECTOR, "#patients tbody tr")
    assert [r.get_attribute("data-patient") for r in rows] == ["p-carl", "p-ann"]  # alerts first
    assert "Foot slap up" in rows[0].text
    _shot(driver, "patients", height=500)

    driver.find_element(By.LINK_TEXT, "Ann Example").click()
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.chartsReady === '1'"))
    charts = _chart_points(driver)
    assert len(charts) == 12
    assert charts["cadence_spm"]["x"] == 91  # default range: 3 months
    assert all(c["canvas"] for c in charts.values())
    assert charts["cadence_spm"]["points"] >= 85
    assert charts["slap_pct"]["points"] >= 85
    _shot(driver, "patient_3m")

    driver.find_element(By.CSS_SELECTOR, 'a.range[data-range="24m"]').click()
    _wait(driver, lambda d: "range=24m" in d.current_url)
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.chartsReady === '1'"))
    charts = _chart_points(driver)
    assert charts["strides"]["x"] == 730
    assert charts["strides"]["points"] >= 720
    assert charts["gait_speed_mps"]["points"] >= 700
    slap = driver.execute_script("return window.dorsiCharts.slap_pct.data[1]")
    early = [v for v in slap[:60] if v is not None]
    late = [v for v in slap[-60:] if v is not None]
    assert sum(early) / len(early) > sum(late) / len(late) + 20  # the recovery is drawn
    assert "trend, not a diagnosis" in driver.page_source
    _shot(driver, "patient_24m")

    driver.find_element(By.ID, "pdf").click()
    pdf = wait_for_file(downloads, ".pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    driver.find_element(By.ID, "fhir").click()
    bundle = json.loads(wait_for_file(downloads, ".json").read_text())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["entry"]

    driver.get(f"{clinic.url}/dashboard/patients/p-ben")
    assert "Ben Example" not in driver.page_source
    assert "No such patient" in driver.page_source
    _shot(driver, "not_found", height=500)


def test_patient_home_view(clinic: Clinic, browser_factory: Callable[[], Any]) -> None:
    from selenium.webdriver.common.by import By

    driver, _ = browser_factory()  # type: ignore[misc]
    key = home_key(clinic.app.state.settings, "p-ann")
    driver.get(f"{clinic.url}/home/p-ann?key={key}")
    assert int(driver.find_element(By.ID, "steps-today").text.replace(",", "")) > 0
    bars = driver.find_elements(By.CSS_SELECTOR, "#weeks .bar")
    assert len(bars) == 4
    assert all(b.size["height"] > 0 for b in bars)
    _shot(driver, "home", height=900)
