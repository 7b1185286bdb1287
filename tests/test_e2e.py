"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run app.py`."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from appserver import running_app

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a closed network: no background connections, no sandbox as root, a fresh profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def test_compare_upload_scores_every_row_and_downloads(browser, trained_registry, demo_upload, tmp_path):
    with running_app(trained_registry.root) as (url, _process, _seconds):
        page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        page.set_default_timeout(120_000)
        page.goto(f"{url}/compare")
        page.get_by_text("Drop a CSV of spectra above").wait_for()
        # A deep link still gets the app's frame: the router's navigation and the sidebar with the active models.
        page.get_by_text("Active models").wait_for()
        assert page.locator("[data-testid='stSidebarNav']").get_by_text("RandomForest").count() == 1
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(demo_upload))
        page.get_by_text("Scored by both models").wait_for()
        page.get_by_text("samples scored by both").wait_for()
        page.locator("[data-testid='stDataFrame']").first.wait_for()
        page.wait_for_timeout(1500)  # let the charts draw before the screenshot
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)

        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download results (CSV)").click()
        saved = tmp_path / "results.csv"
        download_info.value.save_as(saved)

    results = pd.read_csv(saved)
    upload = pd.read_csv(demo_upload)
    assert results["hsi_id"].tolist() == upload["hsi_id"].tolist()
    assert (results["status"] == "ok").all()
    assert results["rf_ppb"].notna().all() and results["tf_ppb"].notna().all()
    assert (tmp_path / "compare.png").stat().st_size > 10_000
    print(f"screenshot: {tmp_path / 'compare.png'}")


def test_malformed_upload_shows_a_plain_error_in_the_browser(browser, trained_registry, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,colour\nx,red\n")
    with running_app(trained_registry.root) as (url, _process, _seconds):
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/rf")
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(bad))
        error = page.locator("[data-testid='stAlertContentError']").first
        error.wait_for()
        assert "no band columns" in error.inner_text()
        assert "Traceback" not in page.content()
