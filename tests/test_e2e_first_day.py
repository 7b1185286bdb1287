"""A new lab's first day in a real browser: the app starts with demo models, the lab trains both models on its own
calibration file from the Train page, and both are active (issue 20: TF was refused by the R² gate, and a real RF
trained in the app waited for an Activate click while the demo models kept serving)."""

from __future__ import annotations

import pytest
from appserver import running_app
from conftest import TINY_PARAMS
from test_e2e import browser  # noqa: F401 (the module's Chromium fixture)

from don_predictor.modeling.training import train_and_register
from don_predictor.store import governance
from don_predictor.store.governance import DEMO_DATA_NAME, DEMO_MODEL_NOTE, is_demo
from don_predictor.store.registry import Registry

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_training_both_models_on_a_real_file_activates_both(browser, demo_table, demo_calibration, real_data, tmp_path):  # noqa: F811
    registry = Registry(tmp_path / "models")
    for backend in ("rf", "tf"):  # what `make run` starts with: quick models on the synthetic demo file
        train_and_register(
            demo_table,
            backend,
            registry,
            data_bytes=demo_calibration.read_bytes(),
            data_name=DEMO_DATA_NAME,
            params=TINY_PARAMS[backend],
            cv_folds=3,
        )
        governance.activate_unreviewed(registry, backend, registry.versions(backend)[0].version)
    demo = {b: registry.active_version(b) for b in ("rf", "tf")}
    with running_app(registry.root) as (url, _process, _seconds):
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.set_default_timeout(300_000)
        page.goto(f"{url}/train")
        page.get_by_text(DEMO_MODEL_NOTE).first.wait_for()  # the sidebar names the demo models
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(real_data))
        page.get_by_text("rows usable for training").wait_for()
        trees = page.get_by_label("RF trees")
        trees.fill("60")  # fewer trees keep the test short; TF trains with its defaults
        trees.press("Tab")
        page.get_by_role("button", name="Train", exact=True).click()
        done = page.locator("[data-testid='stAlertContentSuccess']").filter(has_text="Saved")
        done.wait_for()
        assert "RF and TF are active now" in done.inner_text()
        page.screenshot(path=str(tmp_path / "trained.png"), full_page=True)
    for backend in ("rf", "tf"):
        active = registry.active(backend)
        assert active.version != demo[backend] and not is_demo(active)
        assert active.manifest["data_name"] == real_data.name
        assert active.cv_metrics["screening"]["limits"]["1500"]["decided"]["mean"] > 0
