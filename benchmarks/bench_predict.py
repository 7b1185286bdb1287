"""Benchmark: train both default models on the demo data; score 10,000 rows with both (time and peak memory).

Run: make bench-predict. Prints medians; the machine is shared, so compare figures from one run only.
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from don_predictor.modeling.training import train_and_register  # noqa: E402
from don_predictor.scoring.frame import predict_table  # noqa: E402
from don_predictor.spectra.demo import demo_frame  # noqa: E402
from don_predictor.spectra.reader import read_spectra  # noqa: E402
from don_predictor.store.registry import Registry  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    calibration = ROOT / "data" / "demo_calibration.csv"
    data = calibration.read_bytes()
    table = read_spectra(data, require_target=True)
    registry = Registry(tempfile.mkdtemp(prefix="bench_models_"))
    print(f"training on {calibration.name}: {table.n_rows} rows x {len(table.band_names)} bands (no CV)")
    for backend in ("rf", "tf"):
        started = time.perf_counter()
        train_and_register(table, backend, registry, data_bytes=data, data_name=calibration.name, cv_repeats=0)
        print(f"  train {backend}: {time.perf_counter() - started:6.1f} s")

    models = {backend: registry.load(backend) for backend in ("rf", "tf")}
    big = demo_frame(10_000, seed=7, id_prefix="bench", with_target=False).to_csv(index=False).encode()
    predict_table(read_spectra(big[:200_000].rsplit(b"\n", 1)[0]), models)  # warm up TF's first call
    baseline = peak_rss_mb()
    timings = {"read": [], "rf": [], "tf": [], "total": []}
    for _ in range(3):
        t0 = time.perf_counter()
        table = read_spectra(big)
        t1 = time.perf_counter()
        for backend, model in models.items():
            started = time.perf_counter()
            predict_table(table, {backend: model})
            timings[backend].append(time.perf_counter() - started)
        results = predict_table(table, models)
        timings["read"].append(t1 - t0)
        timings["total"].append(time.perf_counter() - t0 - timings["rf"][-1] - timings["tf"][-1])
    assert len(results) == 10_000 and (results["status"] == "ok").all()
    print(f"scoring 10,000 rows ({len(big) / 1e6:.1f} MB CSV), median of 3:")
    print(f"  read + validate      {statistics.median(timings['read']):6.2f} s")
    print(f"  rf alone             {statistics.median(timings['rf']):6.2f} s")
    print(f"  tf alone             {statistics.median(timings['tf']):6.2f} s")
    print(f"  read + both models   {statistics.median(timings['total']):6.2f} s")
    print(f"  peak RSS: {baseline:,.0f} MB with both models loaded -> {peak_rss_mb():,.0f} MB after scoring")


if __name__ == "__main__":
    main()
