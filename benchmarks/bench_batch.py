"""Benchmark: streamed batch scoring against pyarrow's parse time, and peak memory, at 100,000 and 1,000,000 rows.

Run: make bench-batch. The files are the real dev spectra resampled with noise (448 bands), written into a temporary
folder (never into the project) and deleted at the end. Models: the default RF and TF (300 trees, 5 members) trained
on the dev data with a 2-fold CV for their intervals and verdicts, in a temporary registry, or the registry given
with --models-dir. Each figure is one run of `python -m don_predictor predict` in a fresh process: each backend alone
at the first size, both into CSV and into Parquet at every size, and both through the Dask engine with 2 local
workers. The machine is shared, so compare ratios from one run rather than seconds across runs.

Targets (issue 13): 100k rows with both backends <= 2x the parse time; peak RSS <= 1 GB and 1M rows within 10 % of
100k rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
DEV_DATA = ROOT.parent / "shared" / "data" / "corn_hsi_dev.csv"


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Dev spectra drawn with replacement, each scaled by ~1 % and with 0.002 of band noise, 8 decimals."""
    dev = pacsv.read_csv(DEV_DATA)
    bands = [name for name in dev.column_names if name not in ("hsi_id", "vomitoxin_ppb")]
    X = np.column_stack([dev[name].to_numpy() for name in bands])
    rng = np.random.default_rng(seed)
    with pa.OSFile(str(path), "wb") as sink:
        writer = None
        for start in range(0, rows, 50_000):
            n = min(50_000, rows - start)
            drawn = X[rng.integers(0, len(X), n)] * rng.normal(1, 0.01, (n, 1)) + rng.normal(0, 0.002, (n, len(bands)))
            columns = {"hsi_id": pa.array([f"s{start + i}" for i in range(n)])}
            columns |= {band: pa.array(np.round(drawn[:, j], 8)) for j, band in enumerate(bands)}
            table = pa.table(columns)
            if writer is None:
                writer = pacsv.CSVWriter(sink, table.schema, write_options=pacsv.WriteOptions(quoting_style="none"))
            writer.write_table(table)
        writer.close()


def parse_seconds(path: Path) -> float:
    """pyarrow's own multi-threaded read of the whole file: the floor any CSV scorer starts from."""
    script = "import sys, time, pyarrow.csv as c; t = time.perf_counter(); c.read_csv(sys.argv[1]); "
    script += "print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    return float(done.stdout)


def peak_rss_mb(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, this process's threads) and peak RSS (MB) of one `predict`, measured
    inside its own fresh process. Peak RSS is VmHWM: ru_maxrss of a child starts at its parent's RSS at the fork (it
    survives the exec), which here held the generated rows."""
    wrapper = (
        "import resource, runpy, sys, time; sys.argv = sys.argv[1:]; t = time.perf_counter()\n"
        "try:\n    runpy.run_module('don_predictor', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
        "u = resource.getrusage(resource.RUSAGE_SELF)\n"
        "hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0].split()[1]\n"
        "print(f'@@ {time.perf_counter() - t} {u.ru_utime + u.ru_stime} {int(hwm) / 1024}', file=sys.stderr)\n"
        "sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, "don_predictor", *argv], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"failed: predict {' '.join(argv)}\n{done.stderr[-2000:]}")
    line = [x for x in done.stderr.splitlines() if x.startswith("@@ ")][-1]
    seconds, cpu, rss = map(float, line.split()[1:])
    return seconds, cpu, rss


def train_models(models: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from don_predictor.store.registry import Registry; "
        "from don_predictor.spectra.reader import read_spectra; "
        "from don_predictor.modeling.training import train_and_register; "
        "p = Path(sys.argv[1]); data = p.read_bytes(); table = read_spectra(data, require_target=True); "
        "registry = Registry(sys.argv[2]); "
        "[train_and_register(table, b, registry, data_bytes=data, data_name=p.name, cv_folds=2) for b in ('rf', 'tf')]"
    )
    subprocess.run([sys.executable, "-c", script, str(DEV_DATA), str(models)], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--models-dir", help="registry with active rf and tf (default: train them, ~10 min)")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        models = Path(args.models_dir) if args.models_dir else work / "models"
        if not args.models_dir:
            print("training the default rf and tf on the dev data (2-fold CV for the intervals) ...", flush=True)
            train_models(models)
        header = f"{'rows':>9} {'MB':>6} {'engine':>6} {'backend':>7} {'out':>8} {'parse s':>8} {'predict s':>9} "
        print(header + f"{'CPU s':>6} {'ratio':>6} {'peak RSS MB':>11}", flush=True)
        sizes = [int(r) for r in args.rows.split(",")]
        first = sizes[0]
        for rows in sizes:
            data = work / f"spectra_{rows}.csv"
            generate(data, rows)
            size = data.stat().st_size / 1e6
            parse = parse_seconds(data)
            # Each backend alone at the first size only (the 1M rows take ~10x as long); Parquet output beside CSV.
            alone = [("local", b, ".csv") for b in ("rf", "tf")] if rows == first else []
            jobs = [*alone, ("local", "all", ".csv"), ("local", "all", ".parquet")]
            jobs += [] if args.skip_dask else [("dask", "all", "/")]
            for engine, backend, suffix in jobs:
                out = work / ("out_dask" if engine == "dask" else f"out{suffix}")
                argv = ["predict", "--data", str(data), "--out", str(out), "--backend", backend]
                argv += ["--models-dir", str(models), "--no-history"]
                if engine == "dask":
                    argv += ["--engine", "dask", "--workers", "2"]
                seconds, cpu, rss = peak_rss_mb(argv)
                print(
                    f"{rows:>9,} {size:>6.0f} {engine:>6} {backend:>7} {suffix:>8} {parse:>8.2f} {seconds:>9.2f} "
                    f"{cpu:>6.1f} {seconds / parse:>6.2f} {rss:>11,.0f}",
                    flush=True,
                )
                shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
            data.unlink()
        print(
            "ratio: predict's wall time (start-up, model loading, read, validate, score, write) / pyarrow's parse of "
            "the same file. CPU s and peak RSS: of the predict process (with dask: the client; each worker holds its "
            "own models and partition)."
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
