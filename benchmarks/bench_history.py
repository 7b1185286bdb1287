"""Benchmark: time to write a 10,000-row scoring run (both backends, with intervals, domain statistics and
verdicts) into the history, on SQLite and, when PostgreSQL's binaries are installed, on a temporary PostgreSQL
server; then 8 threads writing 1,000-row runs at once.

Run: make bench-history. Prints the median of 5 writes and rows/s per database.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from don_predictor.store.history import RunInfo, list_runs, record_run, results_since  # noqa: E402

ROWS = 10_000
INFO = RunInfo("bench", {"rf": "v1", "tf": "v1"}, "bench.csv", "0" * 64, "fda-1ppm", "bench")


def results(seed: int, rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"hsi_id": [f"s{i:05d}" for i in range(rows)], "status": ["ok"] * rows})
    for backend in ("rf", "tf"):
        ppb = rng.lognormal(6, 1.5, rows)
        frame[f"{backend}_ppb"] = ppb
        frame[f"{backend}_low_ppb"] = ppb * 0.3
        frame[f"{backend}_high_ppb"] = ppb * 3
        frame[f"{backend}_in_domain"] = pd.array(rng.random(rows) > 0.02, dtype="boolean")
        for statistic in ("t2", "q", "baseline"):
            frame[f"{backend}_{statistic}"] = rng.gamma(2, 2, rows)
        frame[f"{backend}_verdict"] = np.where(
            ppb * 3 < 1000, "below", np.where(ppb * 0.3 > 1000, "above", "send_to_lab")
        )
        frame[f"{backend}_verdict_reason"] = "prediction under the below-threshold"
    return frame


def bench(name: str, db) -> None:
    timings = []
    for seed in range(5):
        frame = results(seed)
        started = time.perf_counter()
        record_run(db, frame, "hsi_id", INFO)
        timings.append(time.perf_counter() - started)
    assert len(list_runs(db)) == 5
    median = statistics.median(timings)
    print(f"{name}: one {ROWS:,}-row run (rf + tf): median {median:.2f} s over 5, {ROWS / median:,.0f} rows/s")
    frames = [results(100 + i, 1000) for i in range(8)]
    started = time.perf_counter()
    threads = [
        threading.Thread(target=lambda f=f: [record_run(db, f, "hsi_id", INFO) for _ in range(3)]) for f in frames
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    assert len(list_runs(db)) == 5 + 24
    print(f"{name}: 8 threads x 3 runs of 1,000 rows at once: {seconds:.2f} s, {24_000 / seconds:,.0f} rows/s")
    started = time.perf_counter()
    read = results_since(db, datetime.now(UTC) - timedelta(days=1))
    seconds = time.perf_counter() - started
    print(f"{name}: the Monitoring page's read of {len(read):,} results (74,000 rows x 2 backends): {seconds:.2f} s")


def bench_migration(runs: int = 10) -> None:
    """Open a schema-3 SQLite history (the last before Alembic) of `runs` x ROWS rows: the one-time migration."""
    import sqlite3

    from test_history import _V3_AUDIT, _V3_SCHEMA

    db = Path(tempfile.mkdtemp(prefix="bench_migrate_")) / "history.sqlite"
    with sqlite3.connect(db) as connection:
        connection.executescript(_V3_SCHEMA + _V3_AUDIT + "PRAGMA user_version = 3;")
        for k in range(runs):
            connection.execute(
                "INSERT INTO runs VALUES (?, '2026-01-01T00:00:00.000+00:00', 'ann', 'cli', 'rf,tf', '{}', NULL,"
                " 'a.csv', NULL, ?, ?, 0)",
                [f"r{k}", ROWS, ROWS],
            )
            connection.executemany(
                "INSERT INTO run_rows (run_id, position, sample_id, status, rf_ppb, rf_in_domain, rf_verdict, tf_ppb,"
                " tf_in_domain, tf_verdict) VALUES (?, ?, ?, 'ok', ?, 1, 'below', ?, 1, 'below')",
                [(f"r{k}", i, f"s{i}", float(i), float(i)) for i in range(ROWS)],
            )
    started = time.perf_counter()
    assert len(list_runs(db)) == runs
    seconds = time.perf_counter() - started
    print(f"SQLite schema 3 -> current: {runs * ROWS:,} rows (2 backends) migrated in {seconds:.2f} s")


def main() -> None:
    bench("SQLite", Path(tempfile.mkdtemp(prefix="bench_history_")) / "history.sqlite")
    bench_migration()
    try:
        from pg_server import fresh_database

        url = fresh_database()
    except BaseException as error:  # pytest.skip is a BaseException
        print(f"PostgreSQL: skipped ({error})")
        return
    bench("PostgreSQL", url)


if __name__ == "__main__":
    main()
