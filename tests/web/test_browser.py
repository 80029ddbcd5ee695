"""End to end in real headless Chromium (Debian's chromium + chromedriver, driven by selenium): search a GPU,
pick a model, predict, see the verdict and the charts; a bad config upload shows its reason; the HTML report
renders offline. Screenshots go to $GPUPLAN_SCREENSHOT_DIR (kept) or a temporary directory.

Locally these tests skip when Chromium is not installed (`apt-get install -y chromium chromium-driver`);
in CI (CI=true) a missing browser is a failure, since .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpuplan.catalog import resolve_gpus
from gpuplan.report.build import build_report
from gpuplan.report.html import render_html
from gpuplan.workload.spec import Workload

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests: .ci/run installs chromium and chromium-driver)")
    pytest.skip(f"{reason}: apt-get install -y chromium chromium-driver (CI installs them in .ci/run)")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    if not CHROMIUM or not CHROMEDRIVER:
        _unavailable("headless Chromium is not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install '.[test]')")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="gpuplan-chromium-")
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keep = os.environ.get("GPUPLAN_SCREENSHOT_DIR")
    path = Path(keep) if keep else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_viewport(drv: Any, width: int, height: int) -> None:
    """Emulate a viewport of exactly ``width`` CSS pixels (Chromium will not make a window narrower than
    500 px, so a phone width needs DevTools' device-metrics override)."""
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def screenshot(drv: Any, path: Path) -> Path:
    """The whole page at the current viewport width: the viewport grows to the document's height first."""
    height = int(drv.execute_script("return document.documentElement.scrollHeight"))
    width = int(drv.execute_script("return window.innerWidth"))
    set_viewport(drv, width, min(max(height, 600), 8000))
    try:
        drv.save_screenshot(str(path))
    finally:
        drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert path.stat().st_size > 10_000
    return path


def wait(drv: Any, cond: Any, timeout: float = 120.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, timeout, poll_frequency=0.2).until(cond)


def chart_boxes(drv: Any, scope: str) -> list[dict[str, float]]:
    return list(drv.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' svg.gp-chart')).map(s => {"
        "const r = s.getBoundingClientRect(); return {w: r.width, h: r.height, id: s.id}; })", scope))


def severe_console_errors(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def no_horizontal_overflow(drv: Any) -> bool:
    return bool(drv.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def open_page(drv: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    drv.set_window_size(1280, 900)
    drv.get_log("browser")  # forget what earlier pages logged
    drv.get(url)
    wait(drv, lambda d: d.find_element(By.ID, "model-select").get_attribute("data-loaded"), 30)


def pick_gpu(drv: Any, query: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    box = drv.find_element(By.ID, "gpu-search")
    box.clear()
    box.send_keys(query)
    button = wait(drv, lambda d: next((b for b in d.find_elements(By.CSS_SELECTOR, "#gpu-results button")
                                       if b.get_attribute("data-name") == name), None), 20)
    button.click()
    wait(drv, lambda d: name in d.find_element(By.ID, "gpu-selected").text, 10)


def test_pick_a_gpu_and_a_model_and_see_the_verdict_and_charts(driver: Any, base: str, shots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(driver, base)
    assert no_horizontal_overflow(driver)
    pick_gpu(driver, "3060 12", "GeForce RTX 3060 12GB")
    Select(driver.find_element(By.ID, "model-select")).select_by_value("lenet5")
    batch = driver.find_element(By.ID, "batch")
    batch.clear()
    batch.send_keys("64")
    screenshot(driver, shots / "page-form.png")
    driver.set_window_size(1280, 900)
    driver.find_element(By.ID, "submit").click()
    wait(driver, lambda d: d.find_element(By.ID, "results").get_attribute("data-verdict")
         or d.find_element(By.ID, "error").text)
    assert driver.find_element(By.ID, "error").text == ""
    assert driver.find_element(By.ID, "results").get_attribute("data-verdict") == "true"
    verdict = driver.find_element(By.CSS_SELECTOR, "#results .verdict .badge").text
    assert verdict == "FITS"
    assert "lenet5" in driver.find_element(By.CSS_SELECTOR, "#results h1").text
    boxes = chart_boxes(driver, "#results")
    ids = {b["id"] for b in boxes}
    assert {"gpu1-breakdown", "gpu1-sweep", "gpu1-timeline", "gpu1-opclass"} <= ids
    assert all(b["w"] > 200 and b["h"] > 60 for b in boxes), boxes
    assert "Done in" in driver.find_element(By.ID, "status").text
    assert no_horizontal_overflow(driver)
    assert severe_console_errors(driver) == []  # no CSP violation, no script error
    screenshot(driver, shots / "page-result.png")


def test_an_invalid_config_upload_shows_the_reason(driver: Any, base: str, shots: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"model_type": "no_such_model", "architectures": ["NoSuchModel"], "hidden_size": 64}))
    open_page(driver, base)
    pick_gpu(driver, "gtx 760", "GeForce GTX 760")
    driver.find_element(By.ID, "src-upload").click()
    upload = driver.find_element(By.ID, "config-file")
    assert upload.is_displayed() and not driver.find_element(By.ID, "model-select").is_displayed()
    upload.send_keys(str(bad))
    wait(driver, lambda d: "loaded" in d.find_element(By.ID, "config-hint").text, 10)
    driver.find_element(By.ID, "submit").click()
    error = wait(driver, lambda d: d.find_element(By.ID, "error").text, 30)
    assert "model_type" in error and "no_such_model" in error
    assert driver.find_element(By.ID, "results").text == ""
    screenshot(driver, shots / "page-bad-config.png")


def test_submitting_without_a_gpu_says_so(driver: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    open_page(driver, base)
    driver.find_element(By.ID, "submit").click()
    assert wait(driver, lambda d: d.find_element(By.ID, "error").text, 5) == "Pick a GPU first."


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = build_report(Workload("lstm", batch=64), resolve_gpus("gtx 760,rtx 3060 12gb,a100 80gb"))
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [1280, 420])
def test_the_html_report_renders_offline(driver: Any, report_file: Path, shots: Path, width: int) -> None:
    driver.set_window_size(max(width, 1280), 900)
    set_viewport(driver, width, 900)
    driver.get_log("browser")
    driver.get(report_file.as_uri())
    assert driver.execute_script("return window.innerWidth") == width
    boxes = chart_boxes(driver, "main")
    assert len(boxes) == 3 * 4 + 2  # 4 per GPU + throughput vs purchase and cloud price
    assert all(b["w"] > 100 and b["h"] > 40 for b in boxes), boxes
    # on a phone the memory-breakdown bar keeps a readable size and scrolls inside its box, like wide tables
    assert all(b["w"] >= 560 for b in boxes if b["id"].endswith("-breakdown")), boxes
    assert no_horizontal_overflow(driver)  # wide tables scroll inside their box
    assert severe_console_errors(driver) == []
    screenshot(driver, shots / f"report-{width}.png")
