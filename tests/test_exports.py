"""What a saved run holds: rounded figures, the measured value, the run's details in every format, and a report
that escapes what the upload brought."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from don_predictor.services import exports
from don_predictor.trust.screening import lot_table


def hand_made_results(n: int = 6) -> pd.DataFrame:
    verdicts = ["below", "above", "send_to_lab", "below", "", "send_to_lab"][:n]
    return pd.DataFrame(
        {
            "sample_id": ["a1", '=HYPERLINK("x")', "<script>alert(1)</script>", "a4", "a5", "a6"][:n],
            "lot": ["L1", "L1", "L2", "L2", "L3", "L3"][:n],
            "status": ["ok", "ok", "ok", "ok", "missing value in band 400 nm", "ok"][:n],
            "rf_ppb": [512.49, 6100.5, 1499.6, 20.0, np.nan, 980.0][:n],
            "rf_low_ppb": [300.2, 4000.0, 900.0, 0.4, np.nan, 500.0][:n],
            "rf_high_ppb": [800.7, 9000.0, 2500.0, 200.0, np.nan, 2100.0][:n],
            "rf_in_domain": pd.array([True, True, True, True, pd.NA, False][:n], dtype="boolean"),
            "rf_t2": [4.52149, 12.0, 3.3333333, 1.0, np.nan, 99.0][:n],
            "rf_q": [0.00889941, 0.01, 0.0123456, 0.002, np.nan, 0.9][:n],
            "rf_baseline": [-0.898549, 0.0, 1.23456, 0.5, np.nan, 4.0][:n],
            "rf_verdict": verdicts,
            "rf_verdict_reason": ["score under 947 ppb", "score over 2,159 ppb", "between", "ok", "", "outside"][:n],
        }
    )


METADATA = {
    "created_utc": "2026-11-28T12:00:00+00:00",
    "don_predictor_version": "0.1.0",
    "input_file": "lots.csv",
    "input_sha256": "ab" * 32,
    "limit": {"key": "eu-unprocessed-maize", "label": "EU unprocessed maize", "ppb": 1750.0},
    "risk": {"false_compliant_rate": 0.05, "false_suspect_rate": 0.05},
    "model_versions": {"rf": "20261128-120000-abc"},
    "verdicts": {
        "rf": {
            "rule": "Mondrian conformal on out-of-fold scores",
            "below_when_score_under_ppb": 947.0,
            "above_when_score_over_ppb": 2159.0,
            "calibration_samples_above_limit": 121,
            "calibration_samples_at_or_below_limit": 379,
            "notes": [],
        }
    },
}


def test_ppb_are_whole_numbers_and_statistics_keep_four_significant_digits():
    out = exports.export_frame(hand_made_results())
    assert out["rf_ppb"].tolist()[:4] == [512, 6100, 1500, 20]  # 6100.5 rounds half to even, as numpy does
    assert out["rf_low_ppb"].dtype == "Int64" and out["rf_ppb"].isna().tolist()[4]
    assert out["rf_t2"].tolist()[:3] == [4.521, 12.0, 3.333]
    assert out["rf_q"].tolist()[:3] == [0.008899, 0.01, 0.01235]
    assert out["rf_baseline"].tolist()[2] == 1.235


def test_significant_digits_leave_zero_nan_and_infinity_alone():
    values = np.array([0.0, np.nan, np.inf, -123456.0, 9.99951])
    rounded = exports.significant(values, 4)
    assert rounded[0] == 0 and np.isnan(rounded[1]) and np.isinf(rounded[2])
    assert rounded[3] == -123500.0 and rounded[4] == 10.0


def test_the_measured_value_follows_status_and_does_not_overwrite_a_column_of_that_name():
    measured = np.array([480.4, 7000.0, 1600.0, np.nan, np.nan, 900.0])
    out = exports.export_frame(hand_made_results(), measured)
    assert list(out.columns[:4]) == ["sample_id", "lot", "status", "measured_ppb"]
    assert out["measured_ppb"].tolist()[:3] == [480, 7000, 1600] and out["measured_ppb"].isna().sum() == 2

    clashing = hand_made_results().rename(columns={"lot": "measured_ppb"})
    out = exports.export_frame(clashing, measured)
    assert "input_measured_ppb" in out and out["measured_ppb"].tolist()[0] == "L1"


def test_csv_writes_booleans_as_words_and_quotes_formulas():
    text = exports.csv_bytes(hand_made_results()).decode()
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert frame["rf_in_domain"].tolist() == ["true", "true", "true", "true", "", "false"]
    assert frame["sample_id"][1].startswith("'=")
    assert frame["rf_ppb"][0] == "512"


def test_workbook_has_results_lots_and_run_sheets_that_agree_with_the_csv():
    results = hand_made_results()
    lots = lot_table(results["lot"].tolist(), results["sample_id"].tolist(), {"rf": results["rf_verdict"].to_numpy()})
    book = pd.read_excel(io.BytesIO(exports.workbook_bytes(results, lots, METADATA)), sheet_name=None)
    assert list(book) == ["results", "lots", "run"]
    assert book["results"]["rf_ppb"].tolist()[:4] == [512, 6100, 1500, 20]
    assert book["results"]["sample_id"][1].startswith("'=")  # not run as a formula by the spreadsheet
    assert book["lots"]["rf_lot_verdict"].tolist() == ["above", "send_to_lab", "send_to_lab"]
    run = dict(zip(book["run"]["item"], book["run"]["value"], strict=True))
    assert float(run["limit.ppb"]) == 1750.0 and run["model_versions.rf"] == "20261128-120000-abc"
    assert run["input_sha256"] == "ab" * 32


def test_workbook_without_lots_has_no_lot_sheet():
    book = pd.read_excel(io.BytesIO(exports.workbook_bytes(hand_made_results(), None, METADATA)), sheet_name=None)
    assert list(book) == ["results", "run"]


def test_report_lists_the_samples_not_cleared_and_escapes_upload_text():
    results = hand_made_results()
    lots = lot_table(results["lot"].tolist(), results["sample_id"].tolist(), {"rf": results["rf_verdict"].to_numpy()})
    html = exports.report_html(results, lots, METADATA, ["rf"], measured=np.array([480, 7000, 1600, 10, 0, 900.0]))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Samples not cleared (3)" in html  # above, send_to_lab, send_to_lab; the cleared and unscored are not
    section = html[html.index("Samples not cleared") :]
    assert "a6" in section and ">a1<" not in section and ">a4<" not in section
    assert "EU unprocessed maize (1,750 ppb)" in html and "20261128-120000-abc" in html
    assert "under 947 ppb" in html and "Lots (3)" in html
    assert "7,000" in section  # the measured value, to the unit


@pytest.mark.parametrize("n_not_cleared", [exports.REPORT_MAX_SAMPLES + 5])
def test_a_long_report_says_the_list_is_cut_and_where_the_rest_is(n_not_cleared):
    rows = pd.concat([hand_made_results(2).iloc[[1]]] * n_not_cleared, ignore_index=True)
    rows["sample_id"] = [f"s{i}" for i in range(len(rows))]
    html = exports.report_html(rows, None, METADATA, ["rf"])
    assert f"The first {exports.REPORT_MAX_SAMPLES} of {n_not_cleared} are listed" in html
    assert f">s{exports.REPORT_MAX_SAMPLES - 1}<" in html and f">s{exports.REPORT_MAX_SAMPLES}<" not in html


def test_report_names_a_limit_the_calibration_cannot_clear():
    meta = {**METADATA, "verdicts": {"rf": {**METADATA["verdicts"]["rf"], "below_when_score_under_ppb": None}}}
    meta["verdicts"]["rf"]["notes"] = ["no sample can be cleared below 10,000 ppb at a 5% false-compliant rate"]
    html = exports.report_html(hand_made_results(), None, meta, ["rf"])
    assert "cannot clear" in html and "no sample can be cleared below 10,000 ppb" in html


def test_a_run_downloaded_from_the_history_has_the_columns_of_the_page_download(tmp_path, trained_registry, demo_table):
    from don_predictor.services.predict import predict_table
    from don_predictor.store.history import RunInfo, record_run, run_rows

    models = {b: trained_registry.load(b) for b in ("rf", "tf")}
    results = predict_table(demo_table, models, 1500.0)
    measured = demo_table.target
    db = tmp_path / "history.sqlite"
    info = RunInfo(source="compare", model_versions={"rf": "a", "tf": "b"}, file_name="x.csv", file_sha256="0" * 64)
    run_id = record_run(db, results, "hsi_id", info, measured=pd.Series(measured))

    page = exports.csv_bytes(results, measured).decode().splitlines()
    history = exports.results_csv(exports.history_frame(run_rows(db, run_id))).decode().splitlines()
    page_frame = pd.read_csv(io.StringIO("\n".join(page)), dtype=str, keep_default_na=False)
    history_frame = pd.read_csv(io.StringIO("\n".join(history)), dtype=str, keep_default_na=False)
    history_frame = history_frame.rename(columns={"sample_id": "hsi_id"})
    assert list(history_frame.columns) == list(page_frame.columns)
    pd.testing.assert_frame_equal(history_frame, page_frame)  # same rounding, same true/false, same empty cells
