"""Streamed scoring (don_predictor.services.batch), the Dask engine and one-pass prediction: the same results as
scoring the whole file in memory, whatever the batches, in bounded memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from don_predictor.cli import main
from don_predictor.config import Settings
from don_predictor.scoring.frame import predict_table
from don_predictor.services.precision import export_frame
from don_predictor.services.results_csv import results_csv
from don_predictor.spectra.reader import read_spectra
from don_predictor.trust.limits import get_limit

ROOT = Path(__file__).resolve().parents[1]
SMALL_BATCH_MB = 0.05  # about 14 rows of 448 bands per batch: a 300-row file is read in 20-odd batches


def multi_batch_file(demo_upload: Path, path: Path, repeats: int = 6, with_id: bool = True) -> Path:
    """The demo upload repeated (unique ids), with bad rows spread over several batches: a word, a missing value,
    a row with too few fields, an infinite value and a flat spectrum."""
    header, *rows = demo_upload.read_text().splitlines()
    lines = [row.replace("upload_", f"u{k}_", 1) for k in range(repeats) for row in rows]
    cells = lines[3].split(",")
    cells[10] = "abc"
    lines[3] = ",".join(cells)
    cells = lines[70].split(",")
    cells[200] = ""
    lines[70] = ",".join(cells)
    lines[150] = ",".join(lines[150].split(",")[:100])
    cells = lines[220].split(",")
    cells[5] = "inf"
    lines[220] = ",".join(cells)
    lines[260] = lines[260].split(",")[0] + ",0.5" * 448
    lines.insert(100, "")  # an empty line: not a row
    lines.insert(120, "," * 448)  # a row of empty cells: skipped, and said so
    if not with_id:
        header = header.split(",", 1)[1]
        lines = [line.split(",", 1)[1] if line else line for line in lines]
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


def in_memory(path: Path, registry, backends=("rf", "tf")):
    """What the whole file scored at once gives, as a saved file rounds it: the results and the row problems."""
    table = read_spectra(path)
    models = {name: registry.load(name) for name in backends}
    limit = get_limit(Settings.from_env().default_limit)
    return export_frame(predict_table(table, models, limit.ppb, Settings.from_env().risk, measured=True)), table


def run(argv: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("with_id", [True, False], ids=["id column", "row numbers"])
def test_streamed_output_equals_the_in_memory_result_with_bad_rows_in_several_batches(
    trained_registry, demo_upload, tmp_path, capsys, with_id
):
    data = multi_batch_file(demo_upload, tmp_path / "in.csv", with_id=with_id)
    out = tmp_path / "out.csv"
    code, err = run(
        [
            "predict",
            "--data",
            data,
            "--out",
            out,
            "--models-dir",
            trained_registry.root,
            "--no-history",
            "--batch-mb",
            SMALL_BATCH_MB,
        ],
        capsys,
    )
    assert code == 0, err
    expected, table = in_memory(data, trained_registry)
    assert out.read_bytes() == results_csv(expected)
    assert (expected["status"] != "ok").sum() == 5  # the bad rows are in the file, and kept
    # The same row problems, with the file's row numbers (and ids), in order, one line each.
    problems = [line.removeprefix("warning: ") for line in err.splitlines() if line.startswith("warning: row ")]
    assert problems == [p.message for p in table.problems]
    assert {p.row for p in table.problems} == {4, 71, 151, 221, 261}
    for warning in table.warnings:  # about the whole file: said once, the same
        assert err.count(f"warning: {warning}") == 1, warning
    assert "1 empty rows were skipped" in table.warnings


def test_parquet_in_and_out_give_the_in_memory_results(trained_registry, demo_upload, tmp_path, capsys):
    csv_in = multi_batch_file(demo_upload, tmp_path / "in.csv")
    # pandas pads the short row with empty cells and keeps the row of empty cells, which the reader skips
    frame = pd.read_csv(csv_in, dtype={"hsi_id": str}).dropna(how="all").reset_index(drop=True)
    frame.to_csv(tmp_path / "same.csv", index=False)
    parquet_in = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet_in, row_group_size=40)
    out = tmp_path / "out.parquet"
    argv = ["predict", "--data", parquet_in, "--out", out, "--models-dir", trained_registry.root, "--no-history"]
    code, err = run([*argv, "--batch-mb", 0.2], capsys)
    assert code == 0, err
    written = pd.read_parquet(out)
    for name in ("rf_in_domain", "tf_in_domain"):  # pandas reads a bool column with nulls as objects
        written[name] = written[name].astype("boolean")
    expected, table = in_memory(tmp_path / "same.csv", trained_registry)
    assert results_csv(written) == results_csv(expected)
    assert written["hsi_id"].tolist() == frame["hsi_id"].tolist() and (written["status"] != "ok").sum() == 5
    assert pa.types.is_boolean(pq.read_schema(out).field("rf_in_domain").type)
    assert pa.types.is_integer(pq.read_schema(out).field("rf_ppb").type)  # ppb to the unit, as the pages save it
    problems = [line.removeprefix("warning: ") for line in err.splitlines() if line.startswith("warning: row ")]
    assert problems == [p.message for p in table.problems]


def test_a_file_that_cannot_be_scored_leaves_no_output(trained_registry, demo_upload, tmp_path, capsys):
    data = tmp_path / "in.csv"
    header, *rows = demo_upload.read_text().splitlines()
    data.write_text(header.rsplit(",", 1)[0] + "\n" + "\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n")
    out = tmp_path / "out.csv"
    code, err = run(["predict", "--data", data, "--out", out, "--models-dir", trained_registry.root], capsys)
    assert code == 2 and "missing '447'" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_one_pass_predictions_do_not_depend_on_the_rows_scored_with_them(trained_registry, demo_upload):
    X = read_spectra(demo_upload).X
    X = np.vstack([X] * 30)  # 1,500 rows: several blocks of every chunked step
    for backend in ("rf", "tf"):
        model = trained_registry.load(backend)
        whole = model.predict_with_trust(X)
        parts = [
            model.predict_with_trust(X[:7]),
            model.predict_with_trust(X[7:1100]),
            model.predict_with_trust(X[1100:]),
        ]
        for key, values in whole.items():
            np.testing.assert_array_equal(values, np.concatenate([p[key] for p in parts]), err_msg=f"{backend} {key}")
        # the one pass gives what predict and difficulty give on their own
        np.testing.assert_array_equal(whole["ppb"], model.predict(X))
        low, high = model.trust.intervals.interval(model.predict(X), model.difficulty(X))
        np.testing.assert_array_equal(whole["low_ppb"], low)
        np.testing.assert_array_equal(whole["high_ppb"], high)


@pytest.mark.parametrize("with_id", [True, False], ids=["id column", "row numbers"])
def test_the_dask_engine_gives_the_local_engine_results(trained_registry, demo_upload, tmp_path, capsys, with_id):
    distributed = pytest.importorskip("distributed")
    from don_predictor.services.dask_engine import score_on_dask

    data = multi_batch_file(demo_upload, tmp_path / "in.csv", with_id=with_id)
    local = tmp_path / "local.parquet"
    code, err = run(
        ["predict", "--data", data, "--out", local, "--models-dir", trained_registry.root, "--no-history"], capsys
    )
    assert code == 0, err
    local_problems = [line for line in err.splitlines() if line.startswith("warning: row ")]
    settings = Settings.from_env()
    versions = {b: trained_registry.active_version(b) for b in ("rf", "tf")}
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        summary = score_on_dask(
            str(data),
            str(tmp_path / "dask_out"),
            trained_registry.root,
            versions,
            get_limit(settings.default_limit).ppb,
            settings.risk,
            client=client,
            partition_bytes=200_000,  # several partitions, cut mid-line
        )
    parts = sorted((tmp_path / "dask_out").glob("part-*.parquet"))
    assert summary.partitions > 3 and len(parts) > 3
    from_dask = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(from_dask, pd.read_parquet(local))
    assert [f"warning: {p}" for p in summary.problems] == local_problems
    assert summary.rows == len(from_dask) and summary.scored == (from_dask["status"] == "ok").sum()
    assert (tmp_path / "dask_out" / "_summary.json").exists()


def test_memory_stays_bounded_on_a_file_many_batches_long(trained_registry, demo_upload, tmp_path):
    """Peak RSS of `predict` on a file 30-odd batches long (16 MB) is within 15 MB of a file of one batch; reading
    it whole would add several times its size (text, Arrow, pandas and float64 copies)."""
    header, *rows = demo_upload.read_text().splitlines()

    def write(path: Path, repeats: int) -> Path:
        with path.open("w") as out:
            out.write(header + "\n")
            for k in range(repeats):
                out.write("\n".join(row.replace("upload_", f"u{k}_", 1) for row in rows) + "\n")
        return path

    small, big = write(tmp_path / "small.csv", 3), write(tmp_path / "big.csv", 90)
    assert big.stat().st_size > 15e6

    def peak_rss_mb(data: Path) -> float:
        # VmHWM, not ru_maxrss: a child's ru_maxrss starts at the RSS of its parent (pytest) at the fork.
        script = (
            "import sys; from don_predictor.cli import main; code = main(sys.argv[1:]); "
            "print([int(x.split()[1]) / 1024 for x in open('/proc/self/status') if x.startswith('VmHWM:')][0]); "
            "sys.exit(code)"
        )
        argv = ["predict", "--data", data, "--out", tmp_path / "out.csv", "--backend", "rf", "--no-history"]
        argv += ["--models-dir", trained_registry.root, "--batch-mb", "0.5"]
        done = subprocess.run(
            [sys.executable, "-c", script, *map(str, argv)], capture_output=True, text=True, cwd=ROOT, check=True
        )
        return float(done.stdout.strip().splitlines()[-1])

    big_rss = peak_rss_mb(big)
    assert len(pd.read_csv(tmp_path / "out.csv", usecols=["status"])) == 90 * len(rows)
    small_rss = peak_rss_mb(small)
    assert big_rss - small_rss < 15, (big_rss, small_rss)


def test_ids_repeated_in_different_batches_are_found(trained_registry, demo_upload, tmp_path, capsys):
    header, *rows = demo_upload.read_text().splitlines()
    data = tmp_path / "twice.csv"
    data.write_text("\n".join([header, *rows, *rows[:3]]) + "\n")  # three ids again, batches later
    argv = ["predict", "--data", data, "--out", tmp_path / "o.csv", "--models-dir", trained_registry.root]
    code, err = run([*argv, "--backend", "rf", "--no-history", "--batch-mb", SMALL_BATCH_MB], capsys)
    assert code == 0, err
    assert "warning: 3 ids appear more than once (first seen at rows 1, 2, 3)" in err.splitlines()
