"""Two app replicas without Docker: two `streamlit run` processes on two ports sharing one model registry and one
PostgreSQL history, a browser session on each. A rollback clicked on replica A is served by replica B on its next
page run; both record into the same history; replica A's /metrics names the version it now serves."""

from __future__ import annotations

import shutil
import time
import urllib.request
from contextlib import ExitStack

import pytest
from appserver import free_port, running_app
from pg_server import fresh_database
from test_e2e import CHROMIUM, CHROMIUM_ARGS

from don_predictor.store import governance
from don_predictor.store.history import list_audit
from don_predictor.store.registry import Registry

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing")  # test_e2e.py fails under CI for the same reason
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def _shared_registry(trained_registry, tmp_path) -> tuple[Registry, str, str]:
    """A copy of the test registry where RF has two versions, the newer one active (so it can be rolled back)."""
    root = tmp_path / "models"
    shutil.copytree(trained_registry.root, root)
    registry = Registry(root)
    current = registry.active_version("rf")
    older = "20000101-000000-older"
    shutil.copytree(root / "rf" / current, root / "rf" / older)
    governance.activate_unreviewed(registry, "rf", older)
    governance.activate_unreviewed(registry, "rf", current)
    return registry, current, older


def _sidebar_shows(page, version: str) -> bool:
    return page.locator("[data-testid='stSidebar']").get_by_text(version).count() > 0


def test_a_rollback_on_one_replica_is_served_by_the_other(browser, trained_registry, tmp_path):
    registry, current, older = _shared_registry(trained_registry, tmp_path)
    url = fresh_database()
    metrics_port = free_port()
    with ExitStack() as stack:
        a, _, _ = stack.enter_context(
            running_app(registry.root, extra_env={"DON_HISTORY_URL": url, "DON_METRICS_PORT": str(metrics_port)})
        )
        b, _, _ = stack.enter_context(running_app(registry.root, extra_env={"DON_HISTORY_URL": url}))
        page_a, page_b = browser.new_page(), browser.new_page()
        for page in (page_a, page_b):
            page.set_default_timeout(60_000)
        page_a.goto(f"{a}/train")
        page_b.goto(f"{b}/status")
        for page in (page_a, page_b):
            page.locator("[data-testid='stSidebar']").get_by_text(current).wait_for()  # waits: the sidebar streams in

        page_a.locator(".st-key-rollback_rf").get_by_role("button", name="Roll back").click()
        clicked = time.perf_counter()
        page_a.locator("[data-testid='stSidebar']").get_by_text(older).wait_for()
        assert registry.active_version("rf") == older

        seen = None
        while seen is None and time.perf_counter() - clicked < 30:
            page_b.reload()  # B's next page run
            page_b.get_by_text("Active models").wait_for()
            if _sidebar_shows(page_b, older):
                seen = time.perf_counter() - clicked
        assert seen is not None, "replica B still serves the old version"
        print(f"replica sync: the rollback on A was served by B {seen:.2f} s after the click (one page load)")

        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            exposed = response.read().decode()
        assert f'don_active_model_info{{backend="rf",version="{older}"}} 1.0' in exposed
        assert "\ndon_drift_threshold 0.25\n" in exposed  # the drift refresher runs beside the metrics
    trail = list_audit(url)
    assert (trail["action"] == "start").sum() == 2  # both replicas wrote into the one database
    assert "rollback" in set(trail["action"])
