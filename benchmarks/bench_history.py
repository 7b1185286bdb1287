"""Benchmark: time to write a 10,000-row scoring run (both backends, with intervals and verdicts) into the history.

Run: make bench-history. Prints the median of 5 writes into a fresh SQLite file.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from don_predictor.history import RunInfo, list_runs, record_run

ROWS = 10_000


def results(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"hsi_id": [f"s{i:05d}" for i in range(ROWS)], "status": ["ok"] * ROWS})
    for backend in ("rf", "tf"):
        ppb = rng.lognormal(6, 1.5, ROWS)
        frame[f"{backend}_ppb"] = ppb
        frame[f"{backend}_low_ppb"] = ppb * 0.3
        frame[f"{backend}_high_ppb"] = ppb * 3
        frame[f"{backend}_in_domain"] = pd.array(rng.random(ROWS) > 0.02, dtype="boolean")
        frame[f"{backend}_verdict"] = np.where(
            ppb * 3 < 1000, "below", np.where(ppb * 0.3 > 1000, "above", "send_to_lab")
        )
    return frame


def main() -> None:
    db = Path(tempfile.mkdtemp(prefix="bench_history_")) / "history.sqlite"
    info = RunInfo("bench", {"rf": "v1", "tf": "v1"}, "bench.csv", "0" * 64, "fda-1ppm", "bench")
    timings = []
    for seed in range(5):
        frame = results(seed)
        started = time.perf_counter()
        record_run(db, frame, "hsi_id", info)
        timings.append(time.perf_counter() - started)
    assert len(list_runs(db)) == 5
    print(
        f"write one {ROWS:,}-row run (rf + tf, intervals, verdicts): median {statistics.median(timings):.2f} s "
        f"over 5 runs; database {db.stat().st_size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
