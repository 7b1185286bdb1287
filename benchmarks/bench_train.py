"""Training in the app against the same job on the command line: RF (defaults, 5-fold CV stored with the model) on
the real dev data, trained through the Train page in a real browser and by `python -m don_predictor train`.

Run: make bench-train (needs Debian's chromium at /usr/bin/chromium and ../shared/data/corn_hsi_dev.csv).
The app's figure is the job's own duration that the Train page prints ("Saved RF ... in N s"); the page stays
open with its progress redrawn every second, as a user would watch it. Before training, the app loads and scores with
a TF model, as a user who looked at the TensorFlow page would have: TensorFlow's many objects are what made
Streamlit's per-run garbage collection expensive. Each side runs REPEATS times; medians.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from appserver import running_app  # noqa: E402
from test_e2e import CHROMIUM_ARGS  # noqa: E402

DEV_DATA = ROOT.parent / "shared" / "data" / "corn_hsi_dev.csv"


def cli_seconds(data: Path, backend: str) -> float:
    models = tempfile.mkdtemp(prefix="bench_train_cli_")
    command = [sys.executable, "-m", "don_predictor", "train", "--data", str(data), "--backend", backend]
    started = time.perf_counter()
    subprocess.run([*command, "--models-dir", models, "--no-activate"], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def app_seconds(page, url: str, data: Path, backend: str) -> tuple[float, list[str]]:
    """Seconds the job took by the page's own figure, and the progress lines seen while it ran."""
    page.goto(f"{url}/train")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(data))
    page.get_by_text("rows read").wait_for()
    # Keep only the chosen backend in the "Models" multiselect: close the other's tag.
    other = {"rf": "TensorFlow", "tf": "RandomForest"}[backend]
    page.get_by_role("button", name=f"Remove {other}").last.click()
    page.get_by_role("button", name="Train").click()
    seen: list[str] = []
    deadline = time.time() + 1800
    while time.time() < deadline:
        bar = page.locator("[data-testid='stProgress']")
        if bar.count():
            text = bar.first.inner_text().strip()
            if text and (not seen or seen[-1] != text):
                seen.append(text)
        success = page.locator("[data-testid='stAlertContentSuccess']")
        if success.count() and "Saved" in success.first.inner_text():
            seconds = float(re.search(r"in ([\d,.]+) s", success.first.inner_text()).group(1).replace(",", ""))
            return seconds, seen
        error = page.locator("[data-testid='stAlertContentError']")
        if error.count():
            raise RuntimeError(error.first.inner_text())
        time.sleep(1.0)
    raise TimeoutError("the training job did not end in 30 minutes")


def load_tf_in_the_app(page, url: str, models_dir: Path, data: Path) -> None:
    """A tiny TF version in the app's registry, then the TensorFlow page scores the demo file with it."""
    from don_predictor.modeling.training import train_and_register
    from don_predictor.spectra.reader import read_spectra
    from don_predictor.store.registry import Registry

    table = read_spectra(data, require_target=True)
    params = {"epochs": 3, "ensemble_size": 2}
    train_and_register(
        table, "tf", Registry(models_dir), data_bytes=b"", data_name="warm-up", params=params, cv_repeats=0
    )
    page.goto(f"{url}/tf")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(data))
    page.get_by_text("Scored in").wait_for()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEV_DATA)
    parser.add_argument("--backend", choices=["rf", "tf"], default="rf")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-tf-loaded", dest="with_tf_loaded", action="store_false", help="skip the TF warm-up")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    cli = [cli_seconds(args.data, args.backend) for _ in range(args.repeats)]
    app, progress = [], []
    models_dir = Path(tempfile.mkdtemp(prefix="bench_train_app_"))
    with running_app(models_dir) as (url, _process, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.set_default_timeout(300_000)
        if args.with_tf_loaded:
            load_tf_in_the_app(page, url, models_dir, args.data)
        for _ in range(args.repeats):
            seconds, progress = app_seconds(page, url, args.data, args.backend)
            app.append(seconds)
        browser.close()
    warm = "with TensorFlow loaded in the app" if args.with_tf_loaded else "TensorFlow not loaded"
    print(f"{args.backend.upper()} on {args.data.name}, defaults, 5-fold CV stored with the model ({warm}):")
    print(f"  CLI  (python -m don_predictor train):  median {statistics.median(cli):6.1f} s  {cli}")
    print(f"  app  (Train page, progress on screen): median {statistics.median(app):6.1f} s  {app}")
    print(f"  app / CLI: {statistics.median(app) / statistics.median(cli):.2f} (target <= 1.5)")
    print(f"  progress lines seen in the last app run ({len(progress)}): first {progress[:3]}, last {progress[-2:]}")


if __name__ == "__main__":
    main()
