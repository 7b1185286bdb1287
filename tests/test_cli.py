"""The command line end to end on the demo data: train, predict, info, evaluate; exit codes and plain errors."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_no_traceback, run_cli, run_cli_process

from don_predictor.cli import main


@pytest.fixture(scope="module")
def cli_models(tmp_path_factory, demo_calibration):
    """RF and TF trained by the train command (TensorFlow: a slow fixture, see conftest.py)."""
    models = tmp_path_factory.mktemp("cli_models")
    # Tiny models may score below zero in CV, which the activation review refuses: the override says why.
    result = run_cli(
        "train",
        "--data",
        demo_calibration,
        "--models-dir",
        models,
        "--trees",
        20,
        "--epochs",
        5,
        "--cv-folds",
        3,
        "--override-reason",
        "tiny models for the CLI tests",
    )
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    return models


@pytest.fixture(scope="module")
def rf_models(tmp_path_factory, demo_calibration):
    """One small RF trained by the train command, with its CV and intervals: what the scoring tests need, in
    seconds."""
    models = tmp_path_factory.mktemp("cli_rf_models")
    result = run_cli(
        "train",
        "--data",
        demo_calibration,
        "--models-dir",
        models,
        "--backend",
        "rf",
        "--trees",
        20,
        "--cv-folds",
        3,
        "--override-reason",
        "tiny model for the CLI tests",
    )
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    assert "cross-validation: fold 3 of 3" in result.stderr and "final fit" in result.stderr  # progress, on stderr
    return models


def test_train_reports_versions_and_progress(cli_models):
    result = run_cli("info", "--models-dir", cli_models)
    assert result.returncode == 0
    assert "rf: 1 version(s), active: " in result.stdout and "tf: 1 version(s), active: " in result.stdout
    assert "active: none" not in result.stdout
    # each version leads with what it decides at the default limit, then its error, R² after, and its intervals
    quality = re.findall(
        r"decides ([0-9]+)% of samples at 1,500 ppb \(false-compliant ≤ 5%\), MAE [0-9,]+ ppb, CV R² -?[0-9.]+; "
        r"90% intervals cover ([0-9.]+)",
        result.stdout,
    )
    assert len(quality) == 2 and all(0 <= int(d) <= 100 and 0.5 <= float(c) <= 1.0 for d, c in quality)


def test_predict_writes_every_row_in_order_with_a_status(cli_models, demo_upload, tmp_path):
    out = tmp_path / "out.csv"
    result = run_cli("predict", "--data", demo_upload, "--out", out, "--models-dir", cli_models)
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(out)
    upload = pd.read_csv(demo_upload)
    trust = ["low_ppb", "high_ppb", "in_domain", "t2", "q", "baseline", "verdict", "verdict_reason"]
    expected = ["hsi_id", "status"] + [f"{b}_{c}" for b in ("rf", "tf") for c in ["ppb", *trust]]
    assert list(results.columns) == expected
    for b in ("rf", "tf"):
        assert (results[f"{b}_low_ppb"] <= results[f"{b}_ppb"]).all()
        assert (results[f"{b}_ppb"] <= results[f"{b}_high_ppb"]).all()
        assert set(results[f"{b}_verdict"]) <= {"below", "send_to_lab", "above"}
        assert results[f"{b}_in_domain"].dtype == bool  # written as true/false
    assert "against 1,500 ppb (1.5 ppm) · EU: unprocessed durum wheat and maize" in result.stdout
    assert "(false-compliant ≤ 5%, false-suspect ≤ 5%)" in result.stdout
    assert results["hsi_id"].tolist() == upload["hsi_id"].tolist()
    assert (results["status"] == "ok").all()
    assert (results[["rf_ppb", "tf_ppb"]] >= 0).all().all()


def test_predict_keeps_bad_rows_with_their_reason(rf_models, demo_upload, tmp_path):
    lines = demo_upload.read_text().splitlines()
    cells = lines[3].split(",")
    cells[10] = "oops"
    lines[3] = ",".join(cells)
    lines.insert(5, "short_row,0.5,0.5")
    data = tmp_path / "partly_bad.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    result = run_cli("predict", "--data", data, "--out", out, "--models-dir", rf_models, "--backend", "rf")
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(out)
    assert len(results) == 51
    assert results["status"].iloc[2] == "not scored: column '9': not a number"
    assert results["hsi_id"].iloc[4] == "short_row" and results["status"].iloc[4].startswith("not scored")
    assert results["rf_ppb"].isna().sum() == 2 and (results["status"] == "ok").sum() == 49
    assert "warning: row 3, id 'upload_0002', column '9': not a number (value 'oops')" in result.stderr
    assert "tf_ppb" not in results.columns
    assert results["rf_verdict"].isna().sum() == 2 and results["rf_in_domain"].isna().sum() == 2


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
def test_bad_input_exits_2_with_one_plain_line(rf_models, tmp_path, content, message):
    data = tmp_path / "bad.csv"
    data.write_bytes(content)
    result = run_cli("predict", "--data", data, "--out", tmp_path / "o.csv", "--models-dir", rf_models)
    assert result.returncode == 2
    assert message in result.stderr
    assert_no_traceback(result)


def test_missing_file_and_missing_models_exit_2(tmp_path, demo_upload):
    # As a real process once: `python -m don_predictor` exits with main's code and prints no traceback.
    result = run_cli_process("predict", "--data", tmp_path / "nope.csv", "--out", tmp_path / "o.csv")
    assert result.returncode == 2 and "nope.csv: no such file" in result.stderr
    assert_no_traceback(result)
    result = run_cli("predict", "--data", demo_upload, "--out", tmp_path / "o.csv", "--models-dir", tmp_path / "empty")
    assert result.returncode == 2 and "no active model" in result.stderr
    assert_no_traceback(result)


def test_train_without_target_exits_2(tmp_path, demo_upload):
    result = run_cli("train", "--data", demo_upload, "--models-dir", tmp_path)
    assert result.returncode == 2 and "no 'vomitoxin_ppb' column" in result.stderr


def test_all_rows_bad_exits_2_but_still_writes_every_row(rf_models, tmp_path):
    header = "hsi_id," + ",".join(str(b) for b in range(448))
    data = tmp_path / "bad.csv"
    data.write_text(header + "\na," + ",".join(["x"] * 448) + "\nb," + ",".join([""] * 448) + "\n")
    out = tmp_path / "o.csv"
    result = run_cli("predict", "--data", data, "--out", out, "--models-dir", rf_models)
    assert result.returncode == 2 and "no row could be scored" in result.stderr
    written = pd.read_csv(out)
    assert written["hsi_id"].tolist() == ["a", "b"]
    assert {"rf_ppb", "rf_low_ppb", "rf_high_ppb", "rf_in_domain", "rf_verdict"} <= set(written.columns)


def test_internal_error_exits_1_without_traceback(monkeypatch, capsys, demo_upload, tmp_path):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("don_predictor.cli.read_spectra", explode)
    code = main(["predict", "--data", str(demo_upload), "--out", str(tmp_path / "o.csv")])
    captured = capsys.readouterr()
    assert code == 1 and captured.err.strip() == "internal error: RuntimeError: boom"


def test_evaluate_prints_a_metrics_table(demo_calibration):
    # 15 trees: the table's format and the coverage line are under test here, not the default forest's accuracy.
    result = run_cli(
        "evaluate", "--data", demo_calibration, "--backend", "rf", "--folds", 3, "--repeats", 2, "--trees", 15
    )
    assert result.returncode == 0, result.stderr
    assert "rf (3x2 CV)" in result.stdout and "R² (log1p)" in result.stdout and "±" in result.stdout
    assert "fold 3 of 3, repeat 2 of 2" in result.stderr
    coverage = re.search(
        r"rf: 90% intervals cover ([0-9.]+) of held-out samples, median width ([0-9,]+) ppb", result.stdout
    )
    assert coverage and 0.7 <= float(coverage.group(1)) <= 1.0 and int(coverage.group(2).replace(",", "")) > 0


def test_demo_data_command_writes_both_files(tmp_path):
    result = run_cli("demo-data", "--out", tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "demo_calibration.csv").stat().st_size > 0 and (tmp_path / "demo_upload.csv").exists()


def test_predict_with_another_limit(rf_models, demo_upload, tmp_path):
    out_low, out_high = tmp_path / "low.csv", tmp_path / "high.csv"
    common = ["--data", demo_upload, "--models-dir", rf_models, "--backend", "rf"]
    assert run_cli("predict", *common, "--out", out_low, "--limit", "eu-milling-products").returncode == 0
    low = pd.read_csv(out_low)
    assert low["rf_verdict"].isin(["below", "send_to_lab", "above"]).all() and (low["rf_verdict"] != "below").any()
    # A typed limit in ppb: calibrated on the same stored scores. The demo calibration holds few samples above
    # 30,000 ppb, so nothing can be cleared, and the command says why instead of deciding.
    result = run_cli("predict", *common, "--out", out_high, "--limit", "30000")
    assert result.returncode == 0, result.stderr
    assert "against 30,000 ppb (30 ppm) · limit of your own" in result.stdout
    assert "no sample can be cleared below 30,000 ppb at a 5% false-compliant rate" in result.stderr
    high = pd.read_csv(out_high)
    assert (high["rf_verdict"] != "below").all()
    assert high["rf_verdict_reason"].str.contains("too few calibration samples above the limit").any()
    result = run_cli("predict", *common, "--out", out_low, "--limit", "nope")
    assert result.returncode == 2 and "unknown limit 'nope'" in result.stderr
    assert_no_traceback(result)


def test_predict_lots_out_writes_one_verdict_per_lot(rf_models, demo_upload, tmp_path):
    upload = pd.read_csv(demo_upload)
    lot = pd.DataFrame({"lot": [f"L{i // 5}" for i in range(len(upload))]})
    upload = pd.concat([upload.iloc[:, :1], lot, upload.iloc[:, 1:]], axis=1)
    data, out, lots_out = tmp_path / "lots.csv", tmp_path / "out.csv", tmp_path / "lot_table.csv"
    upload.to_csv(data, index=False)
    result = run_cli(
        "predict", "--data", data, "--out", out, "--lots-out", lots_out, "--models-dir", rf_models, "--backend", "rf"
    )
    assert result.returncode == 0, result.stderr
    results, lots = pd.read_csv(out), pd.read_csv(lots_out)
    assert list(results.columns[:3]) == ["hsi_id", "lot", "status"]
    assert lots["lot"].tolist() == [f"L{i}" for i in range(10)] and (lots["samples"] == 5).all()
    for _, lot in lots.iterrows():
        members = results.loc[results["lot"] == lot["lot"], "rf_verdict"]
        expected = "above" if (members == "above").any() else "below" if (members == "below").all() else "send_to_lab"
        assert lot["rf_lot_verdict"] == expected
    assert "rf lots: " in result.stdout
    # Without a lot column, --lots-out is a usage error.
    result = run_cli("predict", "--data", demo_upload, "--out", out, "--lots-out", lots_out, "--models-dir", rf_models)
    assert result.returncode == 2 and "needs a 'lot' or 'lot_id' column" in result.stderr


def test_train_refuses_to_activate_a_clearly_worse_challenger(rf_models, demo_calibration, tmp_path):
    """A challenger trained without CV cannot show it is good enough: saved, not activated, exit 2, one line."""
    from don_predictor.store.registry import Registry

    models = tmp_path / "models"
    shutil.copytree(rf_models, models)
    before = Registry(models).active_version("rf")
    quick_train = ["train", "--data", demo_calibration, "--models-dir", models, "--backend", "rf", "--trees", 10]
    quick_train += ["--cv-repeats", "0"]  # no cross-validation: the review refuses to activate it
    result = run_cli(*quick_train)
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    assert "trained without cross-validation" in result.stderr and "--override-reason" in result.stderr
    assert "saved, not activated" in result.stdout
    assert Registry(models).active_version("rf") == before and len(Registry(models).versions("rf")) == 2

    result = run_cli(*quick_train, "--override-reason", "new lamp, quick check")
    assert result.returncode == 0, result.stderr
    assert Registry(models).active_version("rf") == Registry(models).versions("rf")[0].version


def test_hash_password_adds_users_to_a_users_file(tmp_path):
    from don_predictor.services.auth import authenticate, read_users

    path = tmp_path / "users.toml"
    for name, role in (("ann", "analyst"), ("ada", "admin")):
        result = run_cli(
            "hash-password", "--stdin", "--users-file", path, "--user", name, "--role", role, stdin=f"{name}-pw\n"
        )
        assert result.returncode == 0, result.stderr
    users = read_users(path)
    assert (
        authenticate(users, "ann", "ann-pw").role == "analyst" and authenticate(users, "ada", "ada-pw").role == "admin"
    )


def test_predict_says_when_spectra_are_outside_the_domain_or_without_a_lot(rf_models, demo_upload, tmp_path):
    upload = pd.read_csv(demo_upload)
    bands = upload.columns[1:]
    upload.loc[:9, bands] = upload.loc[:9, bands] + 0.2  # a flat offset: the baseline statistic flags these
    lot = pd.DataFrame({"lot": ["" if i in (3, 40) else f"L{i // 10}" for i in range(len(upload))]})
    data, out = tmp_path / "odd.csv", tmp_path / "out.csv"
    pd.concat([upload.iloc[:, :1], lot, upload.iloc[:, 1:]], axis=1).to_csv(data, index=False)
    result = run_cli("predict", "--data", data, "--out", out, "--models-dir", rf_models, "--backend", "rf")
    assert result.returncode == 0, result.stderr
    outside = int((pd.read_csv(out)["rf_in_domain"] == False).sum())  # noqa: E712
    assert outside >= 10
    assert f"rf: {outside} of {len(upload)} spectra lie outside the calibration domain" in result.stderr
    assert "2 rows have an empty lot cell: they are in no lot's verdict" in result.stderr


def test_predict_refuses_an_output_name_it_cannot_write_in_that_format(rf_models, demo_upload, tmp_path):
    result = run_cli("predict", "--data", demo_upload, "--out", tmp_path / "r.xlsx", "--models-dir", rf_models)
    assert result.returncode == 2 and "written as CSV (.csv) or Parquet (.parquet)" in result.stderr
    assert not (tmp_path / "r.xlsx").exists()
    assert_no_traceback(result)


def test_predict_carries_the_measured_value_into_the_output_and_the_history(
    rf_models, demo_calibration, tmp_path, monkeypatch
):
    """A lab checking the screening against its reference values gets both in one file, and the Monitoring page's
    live error gets CLI runs too."""
    from datetime import UTC, datetime, timedelta

    from don_predictor.store.history import results_since

    out, db = tmp_path / "out.csv", tmp_path / "h.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(db))
    result = run_cli("predict", "--data", demo_calibration, "--models-dir", rf_models, "--backend", "rf", "--out", out)
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(out)
    expected = pd.read_csv(demo_calibration)["vomitoxin_ppb"]
    assert list(written.columns[:3]) == ["hsi_id", "status", "measured_ppb"]
    pd.testing.assert_series_equal(
        written["measured_ppb"], expected.round().astype("int64"), check_names=False
    )  # to the unit
    kept = results_since(db, datetime.now(UTC) - timedelta(hours=1))
    assert kept["measured_ppb"].notna().sum() == expected.notna().sum()


def test_predict_worklist_out_lists_every_sample_for_the_lab_and_keeps_their_spectra(
    rf_models, demo_upload, tmp_path, monkeypatch
):
    from don_predictor.lab.records import run_worklist
    from don_predictor.lab.retraining import confirmed_samples
    from don_predictor.store.history import list_runs

    db = tmp_path / "history.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(db))
    monkeypatch.setenv("DON_VERIFY_SHARE", "0.5")
    out, listed = tmp_path / "out.csv", tmp_path / "lab.csv"
    args = ("predict", "--data", demo_upload, "--out", out, "--models-dir", rf_models, "--backend", "rf")
    result = run_cli(*args, "--worklist-out", listed, "--batch-mb", "0.05")  # several batches: drawn per batch
    assert result.returncode == 0, result.stderr
    results, worklist = pd.read_csv(out), pd.read_csv(listed)
    sent = results.loc[results["rf_verdict"] == "send_to_lab", "hsi_id"]
    cleared = results.loc[results["rf_verdict"] == "below", "hsi_id"]
    assert set(worklist.loc[worklist["listed_for"] == "confirm", "hsi_id"]) == set(sent)
    verify = worklist.loc[worklist["listed_for"] == "verify", "hsi_id"]
    assert set(verify) <= set(cleared) and len(verify) >= len(cleared) / 2
    (run_id,) = list_runs(db)["run_id"]
    assert set(worklist["run_id"]) == {run_id}
    kept = run_worklist(db, run_id)
    assert kept["sample_id"].tolist() == worklist["hsi_id"].tolist()
    assert f"lab worklist: {len(sent)} to confirm, {len(verify)} of {len(cleared)} cleared" in result.stdout
    # The lab's values come back for the listed samples: their kept spectra join the next calibration.
    filled = worklist.assign(vomitoxin_ppb=1200.0)[["hsi_id", "run_id", "vomitoxin_ppb"]]
    filled.to_csv(tmp_path / "back.csv", index=False)
    assert run_cli("lab-results", "--file", tmp_path / "back.csv").returncode == 0
    confirmed = confirmed_samples(db)
    assert sorted(confirmed.ids) == sorted(worklist["hsi_id"]) and confirmed.X[0].shape == (448,)
    upload = pd.read_csv(demo_upload).set_index("hsi_id")
    first = confirmed.ids[0]
    assert np.allclose(confirmed.X[0], upload.loc[first].drop(["vomitoxin_ppb"], errors="ignore").to_numpy(float))


def test_predict_worklist_out_is_refused_over_the_input_and_on_dask(rf_models, demo_upload, tmp_path):
    data = tmp_path / "scan.csv"
    data.write_bytes(demo_upload.read_bytes())
    args = ("predict", "--data", data, "--out", tmp_path / "out.csv", "--models-dir", rf_models, "--backend", "rf")
    refused = run_cli(*args, "--worklist-out", data)
    assert refused.returncode == 2 and "--worklist-out" in refused.stderr
    assert data.read_bytes() == demo_upload.read_bytes()
    on_dask = run_cli(*args, "--engine", "dask", "--worklist-out", tmp_path / "w.csv")
    assert on_dask.returncode == 2 and "--worklist-out is not available with --engine dask" in on_dask.stderr
