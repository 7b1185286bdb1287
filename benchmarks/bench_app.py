"""Benchmark the running app: start-up to /_stcore/health, RSS, and the time to score and show 500-row and 5,000-row
uploads on Compare (target for 5,000 rows: results shown in <= 5 s, warm).

Run: make bench-app (needs Debian's chromium at /usr/bin/chromium and trained models: make models).
Scoring time is the server's own figure that the Compare page prints ("Scored by both models in N ms");
a fresh file is uploaded each time so no cache helps, after one upload that warms both models. "Upload to results
shown" is measured in the browser, from handing the file to the uploader to the page showing that file's last section.
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
from don_predictor.spectra.demo import demo_frame  # noqa: E402

SIZES = (500, 5000)
UPLOADS_PER_SIZE = 3


def rss_mb(process: psutil.Process) -> float:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 1024**2


def main() -> None:
    models_dir = Settings.from_env().models_dir
    if not (models_dir / "active.json").exists():
        sys.exit(f"no models in {models_dir}: run make models first")
    workdir = Path(tempfile.mkdtemp(prefix="bench_app_"))
    files = []  # (rows, path): one warm-up upload, then UPLOADS_PER_SIZE of each size
    for i, rows in enumerate([SIZES[0]] + [size for size in SIZES for _ in range(UPLOADS_PER_SIZE)]):
        path = workdir / f"upload_{i}.csv"
        demo_frame(rows, seed=100 + i, id_prefix=f"u{i}", with_target=False).to_csv(path, index=False)
        files.append((rows, path))

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
        server_ms: dict[int, list[float]] = {size: [] for size in SIZES}
        page_s: dict[int, list[float]] = {size: [] for size in SIZES}
        for i, (rows, path) in enumerate(files):
            started = time.perf_counter()
            page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
            # The sample picker (a drop-down up to 1,000 rows, a row number beyond) names this file's first id once
            # the whole page has been redrawn for it.
            if rows <= 1000:
                expect(page.get_by_role("combobox", name="Sample")).to_have_value(
                    re.compile(f"^u{i}_0000"), timeout=120_000
                )
            else:
                page.get_by_text(f"Row 1: u{i}_0000").wait_for(timeout=120_000)
            text = page.get_by_text("Scored by both models in").first.inner_text()
            elapsed = time.perf_counter() - started
            ms = float(re.search(r"in ([\d,]+) ms", text).group(1).replace(",", ""))
            label = "cold (loads both models)" if i == 0 else "warm"
            print(
                f"  upload {i + 1} ({rows:,} rows): server scoring {ms:7,.0f} ms, upload to results shown "
                f"{elapsed:5.2f} s  [{label}]"
            )
            if i > 0:
                server_ms[rows].append(ms)
                page_s[rows].append(elapsed)
        for size in SIZES:
            print(
                f"{size:,}-row upload on Compare, both models warm: "
                f"server scoring median {statistics.median(server_ms[size]):,.0f} ms; "
                f"upload to results shown median {statistics.median(page_s[size]):.2f} s"
            )
        print(f"app RSS with both models loaded: {rss_mb(psutil.Process(process.pid)):,.0f} MB")
        browser.close()


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
