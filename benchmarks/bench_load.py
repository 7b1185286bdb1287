"""Fair use under load (issue 23): 6 browser sessions (one Chromium, a context each) upload the 400-row real file on
Compare at once while a RandomForest training job runs in the same app; each session's time from handing over the
file to its results shown, the median and the maximum, what the sessions were told while they waited, the
training job's time against its time alone, the server's peak RSS, and the errors (page alerts, server log).

Run: make bench-load (Debian's chromium at /usr/bin/chromium, ../shared/data/corn_hsi_dev.csv). The serving models
are quick RF and TF versions trained on the dev data first (train --quick). Each session's file is the real file
with its sample ids prefixed in memory (a new file to the app, so no cached score helps; nothing is written to disk).
Targets: every session gets its results, max <= 2x median, training <= 1.5x alone, RSS <= 1.5 GB, no errors.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from appserver import free_port, running_app  # noqa: E402
from test_e2e import CHROMIUM_ARGS  # noqa: E402

DEV_DATA = ROOT.parent / "shared" / "data" / "corn_hsi_dev.csv"
DONE = "Scored by both models"


class PeakRss(threading.Thread):
    """The server's resident memory (with its children), sampled every 0.2 s; the peak."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.process, self.peak, self.stop = psutil.Process(pid), 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                family = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in family))
            except psutil.Error:
                return


def session_file(data: bytes, i: int) -> dict:
    """The real file with its ids prefixed by the session's number: the same spectra, a file the app has not seen."""
    lines = data.decode().splitlines()
    header, rows = lines[0], lines[1:]
    varied = [f"s{i}-{row}" for row in rows]  # hsi_id is the first column
    assert header.split(",")[0] == "hsi_id"
    return {
        "name": f"session_{i}.csv",
        "mimeType": "text/csv",
        "buffer": ("\n".join([header, *varied]) + "\n").encode(),
    }


def start_training(page, url: str, data: Path) -> None:
    page.goto(f"{url}/train")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(data))
    page.get_by_text("rows read").wait_for()
    page.get_by_role("button", name="Remove TensorFlow").last.click()  # RandomForest only
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator("[data-testid='stProgress']").first.wait_for()


def training_seconds(page) -> float | None:
    """The job's own duration as the Train page prints it ("Saved ... in N s"), None while it runs."""
    success = page.locator("[data-testid='stAlertContentSuccess']")
    if success.count() and "Saved" in success.first.inner_text():
        return float(re.search(r"in ([\d,.]+) s", success.first.inner_text()).group(1).replace(",", ""))
    error = page.locator("[data-testid='stAlertContentError']")
    if error.count():
        raise RuntimeError(f"training failed: {error.first.inner_text()}")
    return None


def train_alone(browser, url: str, data: Path) -> float:
    page = browser.new_context().new_page()
    page.set_default_timeout(300_000)
    start_training(page, url, data)
    while (seconds := training_seconds(page)) is None:
        time.sleep(0.5)
    page.context.close()
    return seconds


def under_load(browser, url: str, data: Path, sessions: int) -> tuple[list, float, list[str]]:
    """[(seconds to results or None, busy messages seen)], the training's seconds, page errors."""
    raw = data.read_bytes()
    trainer = browser.new_context().new_page()
    trainer.set_default_timeout(300_000)
    pages = []
    for _ in range(sessions):
        page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
        page.set_default_timeout(300_000)
        page.goto(f"{url}/compare")
        page.get_by_text("Drop a CSV of spectra above").wait_for()
        pages.append(page)
    start_training(trainer, url, data)
    started, done, told, errors = {}, {}, {i: set() for i in range(sessions)}, []
    for i, page in enumerate(pages):  # all handed over within a second or two
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(session_file(raw, i))
        started[i] = time.perf_counter()
    trained, deadline = None, time.perf_counter() + 900
    while (len(done) < sessions or trained is None) and time.perf_counter() < deadline:
        for i, page in enumerate(pages):
            if i in done:
                continue
            if page.get_by_text(DONE).count():
                done[i] = time.perf_counter() - started[i]
                continue
            for alert in page.locator("[data-testid='stAlertContentWarning']").all():
                if found := re.search(r"busy: (\d+) uploads? ahead of you", alert.inner_text()):
                    told[i].add(found.group(1))
            for alert in page.locator("[data-testid='stAlertContentError']").all():
                text = alert.inner_text()
                if text not in errors:
                    errors.append(text)
        if trained is None:
            trained = training_seconds(trainer)
        time.sleep(0.2)
    return [(done.get(i), sorted(told[i])) for i in range(sessions)], trained, errors


def fair_use_counts(exposed: str) -> str:
    """Waits and refusals the server counted, by cause, and the seconds waited (0 when none was counted)."""
    counts = {}
    for name in ("don_fair_use_waits_total", "don_fair_use_refusals_total"):
        found = re.findall(rf'^{name}{{cause="(\w+)"}} (\S+)$', exposed, re.MULTILINE)
        counts[name] = ", ".join(f"{cause} {float(n):.0f}" for cause, n in found) or "0"
    waited = re.search(r"^don_fair_use_wait_seconds_sum (\S+)$", exposed, re.MULTILINE)
    return (
        f"waits {counts['don_fair_use_waits_total']}; refusals {counts['don_fair_use_refusals_total']}; "
        f"{float(waited.group(1)) if waited else 0.0:.1f} s waited in all"
    )


def serving_models(data: Path) -> Path:
    models = Path(tempfile.mkdtemp(prefix="bench_load_models_"))
    command = [sys.executable, "-m", "don_predictor", "train", "--data", str(data), "--backend", "all", "--quick"]
    command += ["--models-dir", str(models), "--override-reason", "bench-load serving models"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return models


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEV_DATA)
    parser.add_argument("--sessions", type=int, default=6)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"Training quick serving models on {args.data.name}...", flush=True)
    models = serving_models(args.data)
    metrics_port = free_port()
    env = {"DON_METRICS_PORT": str(metrics_port)}
    with running_app(models, timeout=120, extra_env=env) as (url, process, _), sync_playwright() as playwright:
        rss = PeakRss(process.pid)
        rss.start()
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        warm = browser.new_context().new_page()  # loads both models (TensorFlow's import) before anything is timed
        warm.set_default_timeout(300_000)
        warm.goto(f"{url}/compare")
        warm.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
            session_file(args.data.read_bytes(), 99)
        )
        warm.get_by_text(DONE).wait_for()
        warm.context.close()
        print("RandomForest training alone in the app...", flush=True)
        alone = train_alone(browser, url, args.data)
        print(f"{args.sessions} sessions uploading at once while the training runs...", flush=True)
        sessions, trained, page_errors = under_load(browser, url, args.data, args.sessions)
        browser.close()
        rss.stop.set()
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            exposed = response.read().decode()
    log = process.stdout.read().decode(errors="replace")
    log_errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]

    times = [s for s, _told in sessions if s is not None]
    print(f"\n{args.sessions} sessions, {args.data.name} (400 rows) on Compare, during a RandomForest training:")
    for i, (seconds, told) in enumerate(sessions):
        shown = f"{seconds:6.1f} s" if seconds is not None else "  no results"
        print(
            f"  session {i + 1}: {shown}"
            + (f"   told while waiting: busy: {', '.join(told)} uploads ahead" if told else "")
        )
    if times:
        median, worst = statistics.median(times), max(times)
        print(f"time to results: median {median:.1f} s, max {worst:.1f} s, max / median {worst / median:.2f}")
    print(f"training: alone {alone:.1f} s, under load {trained or float('nan'):.1f} s, ratio "
          f"{(trained or float('nan')) / alone:.2f}")  # fmt: skip
    print("fair use (the server's /metrics): " + fair_use_counts(exposed))
    print(f"server peak RSS: {rss.peak / 1024**3:.2f} GB")
    print(f"errors: {len(page_errors)} on the pages, {len(log_errors)} in the server log")
    for line in [*page_errors, *log_errors][:10]:
        print(f"  {line[:200]}")
    print("Targets: every session gets results, max <= 2x median, training <= 1.5x alone, RSS <= 1.5 GB, no errors.")


if __name__ == "__main__":
    main()
