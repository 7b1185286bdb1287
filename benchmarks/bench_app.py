"""Benchmark the running app: start-up to /_stcore/health, RSS, and server time to score a 500-row upload on Compare.

Run: make bench-app (needs Debian's chromium at /usr/bin/chromium and trained models: make models).
Scoring time is the server's own figure that the Compare page prints ("Scored by both models in N ms");
a fresh 500-row file is uploaded each time so no cache helps, after one upload that warms both models.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from appserver import running_app  # noqa: E402
from test_e2e import CHROMIUM_ARGS  # noqa: E402

from don_predictor.config import Settings  # noqa: E402
from don_predictor.demo import demo_frame  # noqa: E402

UPLOADS = 6


def rss_mb(process: psutil.Process) -> float:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 1024**2


def main() -> None:
    models_dir = Settings.from_env().models_dir
    if not (models_dir / "active.json").exists():
        sys.exit(f"no models in {models_dir}: run make models first")
    files = []
    workdir = Path(tempfile.mkdtemp(prefix="bench_app_"))
    for i in range(UPLOADS):
        path = workdir / f"upload_{i}.csv"
        demo_frame(500, seed=100 + i, id_prefix=f"u{i}", with_target=False).to_csv(path, index=False)
        files.append(path)

    starts = []
    for _ in range(3):
        with running_app(models_dir) as (_url, process, seconds):
            starts.append((seconds, rss_mb(psutil.Process(process.pid))))
    print(f"start-up to /_stcore/health ok: median {statistics.median(s for s, _ in starts):.2f} s over 3 starts")
    print(f"RSS when healthy: median {statistics.median(r for _, r in starts):,.0f} MB")

    from playwright.sync_api import expect, sync_playwright

    with running_app(models_dir) as (url, process, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(f"{url}/compare")
        page.get_by_text("Drop a CSV of spectra above").wait_for()
        server_ms, page_s = [], []
        for i, path in enumerate(files):
            started = time.perf_counter()
            page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
            # The sample picker shows this file's first id once the whole page has been redrawn for it.
            expect(page.get_by_role("combobox", name="Sample")).to_have_value(
                re.compile(f"^u{i}_0000"), timeout=120_000
            )
            text = page.get_by_text("Scored by both models in").first.inner_text()
            elapsed = time.perf_counter() - started
            ms = float(re.search(r"in ([\d,]+) ms", text).group(1).replace(",", ""))
            label = "cold (loads both models)" if i == 0 else "warm"
            print(
                f"  upload {i + 1}: server scoring {ms:7,.0f} ms, upload to results shown {elapsed:5.2f} s  [{label}]"
            )
            if i > 0:
                server_ms.append(ms)
                page_s.append(elapsed)
        print(
            "500-row upload on Compare, both models warm: "
            f"server scoring median {statistics.median(server_ms):,.0f} ms; "
            f"upload to results shown median {statistics.median(page_s):.2f} s"
        )
        print(f"app RSS with both models loaded: {rss_mb(psutil.Process(process.pid)):,.0f} MB")
        browser.close()


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
