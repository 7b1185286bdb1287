"""The command line end to end on the demo data: train, predict, info, evaluate; exit codes and plain errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT

from don_predictor.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "don_predictor", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


@pytest.fixture(scope="module")
def cli_models(tmp_path_factory, demo_calibration):
    models = tmp_path_factory.mktemp("cli_models")
    result = run_cli(
        "train", "--data", demo_calibration, "--models-dir", models, "--trees", 20, "--epochs", 5, "--cv-repeats", 0
    )
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    return models


def test_train_reports_versions_and_progress(cli_models):
    result = run_cli("info", "--models-dir", cli_models)
    assert result.returncode == 0
    assert "rf: 1 version(s), active: " in result.stdout and "tf: 1 version(s), active: " in result.stdout
    assert "active: none" not in result.stdout


def test_predict_writes_every_row_in_order_with_a_status(cli_models, demo_upload, tmp_path):
    out = tmp_path / "out.csv"
    result = run_cli("predict", "--data", demo_upload, "--out", out, "--models-dir", cli_models)
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(out)
    upload = pd.read_csv(demo_upload)
    assert list(results.columns) == ["hsi_id", "status", "rf_ppb", "tf_ppb"]
    assert results["hsi_id"].tolist() == upload["hsi_id"].tolist()
    assert (results["status"] == "ok").all()
    assert (results[["rf_ppb", "tf_ppb"]] >= 0).all().all()


def test_predict_keeps_bad_rows_with_their_reason(cli_models, demo_upload, tmp_path):
    lines = demo_upload.read_text().splitlines()
    cells = lines[3].split(",")
    cells[10] = "oops"
    lines[3] = ",".join(cells)
    lines.insert(5, "short_row,0.5,0.5")
    data = tmp_path / "partly_bad.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    result = run_cli("predict", "--data", data, "--out", out, "--models-dir", cli_models, "--backend", "rf")
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(out)
    assert len(results) == 51
    assert results["status"].iloc[2] == "not scored: column '9': not a number"
    assert results["hsi_id"].iloc[4] == "short_row" and results["status"].iloc[4].startswith("not scored")
    assert results["rf_ppb"].isna().sum() == 2 and (results["status"] == "ok").sum() == 49
    assert "warning: row 3, id 'upload_0002', column '9': not a number (value 'oops')" in result.stderr
    assert "tf_ppb" not in results.columns


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "error: the file is empty"),
        (b"a,b\n1,2\n", "error: no band columns"),
        (
            ("hsi_id," + ",".join(str(b) for b in range(447)) + "\nx," + ",".join(["0.5"] * 447) + "\n").encode(),
            "missing '447'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_plain_line(cli_models, tmp_path, content, message):
    data = tmp_path / "bad.csv"
    data.write_bytes(content)
    result = run_cli("predict", "--data", data, "--out", tmp_path / "o.csv", "--models-dir", cli_models)
    assert result.returncode == 2
    assert message in result.stderr
    assert_no_traceback(result)


def test_missing_file_and_missing_models_exit_2(tmp_path, demo_upload):
    result = run_cli("predict", "--data", tmp_path / "nope.csv", "--out", tmp_path / "o.csv")
    assert result.returncode == 2 and "nope.csv: no such file" in result.stderr
    result = run_cli("predict", "--data", demo_upload, "--out", tmp_path / "o.csv", "--models-dir", tmp_path / "empty")
    assert result.returncode == 2 and "no active model" in result.stderr
    assert_no_traceback(result)


def test_train_without_target_exits_2(tmp_path, demo_upload):
    result = run_cli("train", "--data", demo_upload, "--models-dir", tmp_path)
    assert result.returncode == 2 and "no 'vomitoxin_ppb' column" in result.stderr


def test_all_rows_bad_exits_2_but_still_writes_every_row(cli_models, tmp_path):
    header = "hsi_id," + ",".join(str(b) for b in range(448))
    data = tmp_path / "bad.csv"
    data.write_text(header + "\na," + ",".join(["x"] * 448) + "\nb," + ",".join([""] * 448) + "\n")
    out = tmp_path / "o.csv"
    result = run_cli("predict", "--data", data, "--out", out, "--models-dir", cli_models)
    assert result.returncode == 2 and "no row could be scored" in result.stderr
    assert pd.read_csv(out)["hsi_id"].tolist() == ["a", "b"]


def test_internal_error_exits_1_without_traceback(monkeypatch, capsys, demo_upload, tmp_path):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("don_predictor.cli.read_spectra", explode)
    code = main(["predict", "--data", str(demo_upload), "--out", str(tmp_path / "o.csv")])
    captured = capsys.readouterr()
    assert code == 1 and captured.err.strip() == "internal error: RuntimeError: boom"


def test_evaluate_prints_a_metrics_table(demo_calibration):
    result = run_cli("evaluate", "--data", demo_calibration, "--backend", "rf", "--folds", 3, "--repeats", 2)
    assert result.returncode == 0, result.stderr
    assert "rf (3x2 CV)" in result.stdout and "R² (log1p)" in result.stdout and "±" in result.stdout
    assert "repeat 2/2" in result.stderr


def test_demo_data_command_writes_both_files(tmp_path):
    result = run_cli("demo-data", "--out", tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "demo_calibration.csv").stat().st_size > 0 and (tmp_path / "demo_upload.csv").exists()
