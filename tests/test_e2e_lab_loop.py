"""The lab's loop in a real browser: screen a file on Compare, download its lab worklist, send the lab's values back
on the Lab results page, and see the screen verified on Monitoring (issue 24)."""

from __future__ import annotations

import pandas as pd
import pytest
from appserver import running_app
from test_e2e import browser  # noqa: F401 (the module's Chromium fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_screen_worklist_lab_results_and_the_verified_rate(browser, trained_registry, demo_upload, tmp_path):  # noqa: F811
    env = {"DON_HISTORY_DB": str(tmp_path / "history.sqlite"), "DON_VERIFY_SHARE": "1"}  # verify every cleared one
    with running_app(trained_registry.root, extra_env=env) as (url, _process, _seconds):
        page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        page.set_default_timeout(120_000)
        page.goto(f"{url}/compare")
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(demo_upload))
        page.get_by_text("Lab worklist").first.wait_for()
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Lab worklist (CSV)").click()
        listed_file = tmp_path / "worklist.csv"
        download_info.value.save_as(listed_file)
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)

        listed = pd.read_csv(listed_file)
        assert set(listed["listed_for"]) <= {"confirm", "verify"} and len(listed)
        # The lab measures every listed sample: cleared ones well below the limit, the others above it.
        back = listed.assign(vomitoxin_ppb=[300.0 if v == "verify" else 2500.0 for v in listed["listed_for"]])
        back.to_csv(tmp_path / "lab.csv", index=False)

        page.goto(f"{url}/lab_results")
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(tmp_path / "lab.csv"))
        page.get_by_role("button", name="Record these results").click()
        page.get_by_text("are kept beside their screened samples").wait_for()
        page.screenshot(path=str(tmp_path / "lab_results.png"), full_page=True)

        page.goto(f"{url}/monitoring")
        page.get_by_text("Screening verified by the lab").wait_for()
        verified = int((listed["listed_for"] == "verify").sum())
        found = page.get_by_text(f"0 of {verified} verified cleared samples were above").first
        found.wait_for()
        found.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "monitoring.png"), full_page=True)
