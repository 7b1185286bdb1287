"""What a saved run holds: rounded figures, the measured value, the run's details in every format, and a report
that escapes what the upload brought."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from don_predictor.scoring.frame_views import lot_table
from don_predictor.scoring.run import Lots
from don_predictor.services import exports, precision


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
    out = precision.export_frame(hand_made_results())
    assert out["rf_ppb"].tolist()[:4] == [512, 6100, 1500, 20]  # 6100.5 rounds half to even, as numpy does
    assert out["rf_low_ppb"].dtype == "Int64" and out["rf_ppb"].isna().tolist()[4]
    assert out["rf_t2"].tolist()[:3] == [4.521, 12.0, 3.333]
    assert out["rf_q"].tolist()[:3] == [0.008899, 0.01, 0.01235]
    assert out["rf_baseline"].tolist()[2] == 1.235


def test_significant_digits_leave_zero_nan_and_infinity_alone():
    values = np.array([0.0, np.nan, np.inf, -123456.0, 9.99951])
    rounded = precision.significant(values, 4)
    assert rounded[0] == 0 and np.isnan(rounded[1]) and np.isinf(rounded[2])
    assert rounded[3] == -123500.0 and rounded[4] == 10.0


def test_the_measured_value_follows_status_and_does_not_overwrite_a_column_of_that_name():
    measured = np.array([480.4, 7000.0, 1600.0, np.nan, np.nan, 900.0])
    out = precision.export_frame(hand_made_results(), measured)
    assert list(out.columns[:4]) == ["sample_id", "lot", "status", "measured_ppb"]
    assert out["measured_ppb"].tolist()[:3] == [480, 7000, 1600] and out["measured_ppb"].isna().sum() == 2

    clashing = hand_made_results().rename(columns={"lot": "measured_ppb"})
    out = precision.export_frame(clashing, measured)
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
    lots = Lots(results["lot"].tolist(), results["sample_id"].tolist(), {"rf": results["rf_verdict"].to_numpy()})
    html = exports.report_html(results, lots, METADATA, ["rf"], measured=np.array([480, 7000, 1600, 10, 0, 900.0]))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Samples not cleared (4)" in html  # above, send_to_lab, not scored, send_to_lab; the cleared are not
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
    from don_predictor.scoring.frame import predict_table
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


# --- Compare's report: the joint decision, untrusted predictions, a printable lot table -------------------------


def compare_results() -> pd.DataFrame:
    """Compare's results by hand: RF and TF columns, the joint verdict and trust, and the difference columns."""
    from don_predictor.services.compare import add_differences
    from don_predictor.trust.screening import joint_verdict

    rf = hand_made_results()
    tf = rf.filter(like="rf_").rename(columns=lambda c: "tf_" + c[len("rf_") :])
    tf["tf_ppb"] = [700.0, 5000.0, 800.0, 30.0, np.nan, 15558.0]
    tf["tf_low_ppb"], tf["tf_high_ppb"] = tf["tf_ppb"] * 0.4, tf["tf_ppb"] * 2.4
    tf["tf_in_domain"] = pd.array([True, True, True, True, pd.NA, False], dtype="boolean")
    tf["tf_verdict"] = ["send_to_lab", "above", "below", "below", "", "send_to_lab"]
    tf["tf_verdict_reason"] = ["between", "score over 2,159 ppb", "score under 947 ppb", "ok", "", "outside"]
    out = pd.concat([rf, tf], axis=1)
    out["both_verdict"] = joint_verdict(out["rf_verdict"], out["tf_verdict"])
    out["both_in_domain"] = out["rf_in_domain"] & out["tf_in_domain"]
    return add_differences(out)


COMPARE_METADATA = {
    **METADATA,
    "model_versions": {"rf": "20261128-120000-abc", "tf": "20261128-120500-def"},
    "verdicts": {"rf": METADATA["verdicts"]["rf"], "tf": METADATA["verdicts"]["rf"]},
}


def _row_of(html: str, sample: str) -> str:
    """The not-cleared table's row of one sample."""
    section = html[html.index("Samples not cleared") :]
    at = section.index(f">{sample}<")
    return section[section.rindex("<tr", 0, at) : section.index("</tr>", at)]


def _header_cells(html: str, table_starts_after: str) -> list[str]:
    part = html[html.index(table_starts_after) :]
    head = part[part.index("<thead>") : part.index("</thead>")]
    return [cell.split(">", 1)[1].split("<", 1)[0].strip() for cell in re.split(r"<th(?=[ >])", head)[1:]]


@pytest.mark.parametrize("backends", [["rf", "tf"], ["both", "rf", "tf"]])  # the page passes the models only
def test_compare_report_puts_the_both_decision_first_and_lists_what_it_does_not_clear(backends):
    results = compare_results()
    verdicts = {b: results[f"{b}_verdict"].to_numpy() for b in ("both", "rf", "tf")}
    lots = Lots(results["lot"].tolist(), results["sample_id"].tolist(), verdicts)
    html = exports.report_html(results, lots, COMPARE_METADATA, backends)

    counts = html[html.index("<h2>Verdicts</h2>") : html.index("<h2>Lots")]
    assert (
        counts.index("<b>BOTH</b> (the decision to act on)") < counts.index("<td>RF</td>") < counts.index("<td>TF</td>")
    )
    assert _header_cells(html, "<h2>Lots")[:3] == ["Lot", "Samples", "BOTH"]
    assert "both_lot_verdict" not in html and "both_decided_by" not in html
    assert _header_cells(html, "Samples not cleared")[:3] == ["Sample", "Lot", "BOTH"]
    # a1: RF clears it, TF cannot tell (listed); a4: both clear it (not listed); a5: not scored (listed)
    assert "Samples not cleared (5)" in html
    assert (
        ">a1<" in html[html.index("Samples not cleared") :] and ">a4<" not in html[html.index("Samples not cleared") :]
    )
    assert "TF cannot tell" in _row_of(html, "a1")


def test_a_prediction_outside_the_domain_is_printed_as_not_trusted_with_the_reason():
    results = compare_results()
    html = exports.report_html(results, None, COMPARE_METADATA, ["rf", "tf"])
    row = _row_of(html, "a6")  # RF 980 ppb and TF 15,558 ppb, both outside their domains
    assert row.count(exports.UNTRUSTED) == 2
    assert "15,558" not in row and "980" not in row and "6,221" not in row and "37,339" not in row
    assert "outside its calibration domain" in row  # the joint verdict says why
    trusted = _row_of(html, "&lt;script&gt;alert(1)&lt;/script&gt;")
    assert exports.UNTRUSTED not in trusted and "1,500" in trusted and "900 – 2,500" in trusted


def big_lots(n_lots: int = 50, per_lot: int = 100) -> tuple[pd.DataFrame, Lots]:
    """n_lots × per_lot samples: the first 3 lots all below, the last 2 with one above, the rest send to lab."""
    n = n_lots * per_lot
    ids = [f"S{i:05d}" for i in range(n)]
    lots = [f"L{i % n_lots:02d}" for i in range(n)]
    lot_number = np.arange(n) % n_lots
    verdict = np.where(np.arange(n) % 7 == 0, "below", "send_to_lab").astype(object)
    verdict[lot_number < 3] = "below"
    verdict[(lot_number >= n_lots - 2) & (np.arange(n) < n_lots)] = "above"
    results = pd.DataFrame(
        {
            "sample_id": ids,
            "lot": lots,
            "status": "ok",
            "rf_ppb": 1000.0,
            "rf_in_domain": pd.array([True] * n, dtype="boolean"),
            "rf_verdict": verdict,
            "rf_verdict_reason": "r",
        }
    )
    return results, Lots(lots, ids, {"rf": verdict})


def test_the_lot_table_starts_with_a_summary_and_names_only_a_few_samples_a_lot():
    results, lots = big_lots()
    html = exports.report_html(results, lots, METADATA, ["rf"])
    assert "50 lots: 3 below, 45 send to lab, 2 above" in html
    assert _header_cells(html, "<h2>Lots") == ["Lot", "Samples", "RF", "Decided by"]
    # lot L03: samples 3, 53, 103, … of which every 7th overall is below
    members = [f"S{i:05d}" for i in range(3, 5000, 50) if i % 7 != 0]
    assert f">{', '.join(members[:3])} and {len(members) - 3} more<" in html
    assert members[3] not in html[html.index("<h2>Lots") : html.index("Samples not cleared")]
    assert ">S00048<" in html and ">all 100 below<" in html
    assert "@media print" in html and "width: 100%" in html


def test_the_report_prints_the_runs_lots_whatever_the_results_columns():
    results, lots = big_lots()
    html = exports.report_html(results.drop(columns="lot"), lots, METADATA, ["rf"])
    # the run's lots (Decisions.lots), not lots guessed from the results' columns: a few names a lot
    assert f">{lots.table(listed=exports.REPORT_LOT_IDS)['rf_decided_by'].iloc[3]}<" in html


def test_rows_that_were_not_scored_are_listed_among_the_samples_to_act_on():
    html = exports.report_html(hand_made_results(), None, METADATA, ["rf"])
    # a1 and a4 are below; a5 was not scored: it needs a rescan or a lab test, like the send_to_lab ones.
    listed = html[html.index("Samples not cleared") :]
    assert "Samples not cleared (4)" in html
    assert ">a5<" in listed and "not scored" in listed and "missing value in band 400 nm" in listed
    assert ">a1<" not in listed and ">a4<" not in listed

    nothing_scored = hand_made_results().assign(rf_verdict="", rf_ppb=np.nan, status="bad row")
    html = exports.report_html(nothing_scored, None, METADATA, ["rf"])
    assert "Samples not cleared (6)" in html and "Every scored sample was cleared" not in html


def test_the_report_shows_the_measured_value_when_the_upload_names_a_column_measured_ppb():
    results = hand_made_results().rename(columns={"sample_id": "measured_ppb"})  # the file's id column
    measured = np.array([100.0, 7000.0, 1200.0, 15.0, np.nan, 900.0])
    html = exports.report_html(results, None, METADATA, ["rf"], measured)
    row_a6 = html[html.index(">a6<") :].split("</tr>")[0]
    assert ">900<" in row_a6  # the measured value, not the id again
    assert "input_measured_ppb" in precision.export_frame(results, measured).columns


def test_the_ratio_of_the_two_models_is_saved_to_two_decimals():
    results = compare_results()
    assert results["tf_over_rf"][0] == pytest.approx(700 / 512.49)
    out = precision.export_frame(results)
    assert out["tf_over_rf"].tolist()[:2] == [1.37, 0.82] and np.isnan(out["tf_over_rf"][4])
    assert exports.csv_bytes(results).decode().splitlines()[1].endswith(",1.37")


def test_a_non_finite_prediction_is_saved_as_an_empty_cell_not_a_crash():
    results = pd.DataFrame({"hsi_id": ["a", "b", "c"], "status": ["ok"] * 3, "rf_ppb": [12.4, np.inf, 1e300]})
    saved = precision.export_frame(results)
    assert saved["rf_ppb"].tolist()[0] == 12 and saved["rf_ppb"].isna().tolist() == [False, True, True]


def test_a_lot_list_longer_than_an_excel_cell_is_cut_and_says_so():
    names = ", ".join(f"sample_{i:06d}" for i in range(3000))  # about 42,000 characters
    lots = pd.DataFrame({"lot": ["L1"], "samples": [3000], "rf_lot_verdict": ["above"], "rf_decided_by": [names]})
    book = pd.read_excel(io.BytesIO(exports.workbook_bytes(hand_made_results(), lots, {"run": 1})), sheet_name="lots")
    cell = book["rf_decided_by"].iloc[0]
    assert len(cell) <= exports.EXCEL_CELL_CHARS and cell.endswith("the Lots CSV names every sample)")
    assert cell.startswith("sample_000000, sample_000001") and ", sample_" in cell[-120:]  # whole ids only


def test_the_report_says_both_is_one_model_when_the_other_is_a_demo_model():
    """A signed report said 'below only when both models clear the sample' while its counts were RF's alone (the
    page said BOTH is RF alone, TF being a demo model)."""
    results = hand_made_results()
    for column in [c for c in results.columns if c.startswith("rf_")]:
        results[column.replace("rf_", "tf_", 1)] = results[column]
    results["both_verdict"], results["both_in_domain"] = results["rf_verdict"], results["rf_in_domain"]
    joint = exports.report_html(results, None, METADATA, ["both", "rf", "tf"])
    assert "below only when both models clear the sample" in joint
    alone = exports.report_html(results, None, {**METADATA, "joint_decision_by": "rf"}, ["both", "rf", "tf"])
    assert "the decision to act on is RF alone: the other model is a demo model" in alone
    assert "below only when both models clear the sample" not in alone
