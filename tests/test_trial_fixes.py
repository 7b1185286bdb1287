"""A new user's trial: repeated ids named with their rows (warning, page table, downloads), the lots file naming
every deciding sample, and one time on every download of a run."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from don_predictor.scoring.run import Lots
from don_predictor.services import exports, run_metadata
from don_predictor.spectra.reader import read_spectra
from tests.test_exports import METADATA

BANDS = ["400", "402", "404"]


def spectra_file(ids: list[str], missing_row: int | None = None) -> bytes:
    """One line per id; `missing_row` (1-based data row) has an empty band cell."""
    lines = [",".join(["hsi_id", *BANDS])]
    for row, name in enumerate(ids, start=1):
        first = "" if row == missing_row else "0.41"
        lines.append(",".join([name, first, "0.42", "0.43"]))
    return ("\n".join(lines) + "\n").encode()


TRIAL_IDS = [f"upload_{i:04d}" for i in range(2, 11)]
TRIAL_IDS[1] = TRIAL_IDS[3] = TRIAL_IDS[8] = "upload_0001"  # data rows 2, 4 and 9, as in the trial


def test_the_warning_names_the_rows_of_a_repeated_id_counted_as_row_problems_are():
    table = read_spectra(spectra_file(TRIAL_IDS, missing_row=4))
    (warning,) = [w for w in table.warnings if "appear more than once" in w]
    assert warning == "1 ids appear more than once: 'upload_0001' on rows 2, 4 and 9"
    # the same counting as the row problems: the bad cell on data row 4 is reported on row 4, that id
    (problem,) = table.problems
    assert problem.row == 4 and problem.id == "upload_0001"
    assert table.ids[problem.row - 1] == "upload_0001"


def test_many_repeats_are_capped_ids_and_rows_alike():
    ids = [f"s{i % 7}" for i in range(7 * 8)]  # 7 ids, each on 8 rows
    table = read_spectra(spectra_file(ids))
    (warning,) = [w for w in table.warnings if "appear more than once" in w]
    assert warning.startswith("7 ids appear more than once: 's0' on rows 1, 8, 15, 22, 29 and 3 more; 's1' on rows")
    assert warning.endswith("; and 2 more ids") and "'s4'" in warning and "'s5'" not in warning
    two = read_spectra(spectra_file(["a", "b", "a"]))
    assert "1 ids appear more than once: 'a' on rows 1 and 3" in two.warnings


def results_with(ids: list[str], verdicts: list[str], lots: list[str] | None = None) -> pd.DataFrame:
    n = len(ids)
    columns: dict[str, object] = {"hsi_id": ids}
    if lots is not None:
        columns["lot"] = lots
    columns.update(
        {
            "status": ["ok"] * n,
            "rf_ppb": np.linspace(100.0, 5000.0, n),
            "rf_in_domain": pd.array([True] * n, dtype="boolean"),
            "rf_verdict": verdicts,
            "rf_verdict_reason": ["r"] * n,
        }
    )
    return pd.DataFrame(columns)


def test_downloads_add_a_row_column_only_when_ids_repeat():
    verdicts = ["below", "above", "below", "send_to_lab", "below", "below", "below", "above", "below"]
    repeated = results_with(TRIAL_IDS, verdicts)
    csv = pd.read_csv(io.BytesIO(exports.csv_bytes(repeated)))
    assert list(csv.columns[:3]) == ["row", "hsi_id", "status"]
    assert csv.loc[csv["hsi_id"] == "upload_0001", "row"].tolist() == [2, 4, 9]
    assert csv.loc[csv["hsi_id"] == "upload_0001", "rf_verdict"].tolist() == ["above", "send_to_lab", "below"]
    sheet = pd.read_excel(io.BytesIO(exports.workbook_bytes(repeated, None, METADATA)), sheet_name="results")
    assert sheet["row"].tolist() == list(range(1, 10))

    unique = results_with([f"u{i}" for i in range(9)], verdicts)
    assert list(pd.read_csv(io.BytesIO(exports.csv_bytes(unique))).columns[:2]) == ["hsi_id", "status"]
    sheet = pd.read_excel(io.BytesIO(exports.workbook_bytes(unique, None, METADATA)), sheet_name="results")
    assert "row" not in sheet.columns


def test_a_file_whose_id_column_is_called_row_keeps_it_and_gets_file_row():
    results = results_with(["a", "a"], ["below", "above"]).rename(columns={"hsi_id": "row"})
    out = exports.with_row_numbers(results)
    assert list(out.columns[:2]) == ["file_row", "row"] and out["file_row"].tolist() == [1, 2]


def test_the_report_names_the_row_of_a_repeated_id():
    verdicts = ["below", "above", "below", "send_to_lab", "below", "below", "below", "above", "below"]
    html = exports.report_html(results_with(TRIAL_IDS, verdicts), None, METADATA, ["rf"])
    listed = html[html.index("Samples not cleared") :]
    for row in (2, 4):  # the two not cleared; row 9 is below, not listed
        assert f">upload_0001 (row {row})<" in listed
    assert ">upload_0009<" in listed and "(row 9)" not in listed  # an id that does not repeat: as it is
    unique = exports.report_html(results_with([f"u{i}" for i in range(9)], verdicts), None, METADATA, ["rf"])
    assert "(row " not in unique


def _table_of(ids: list[str]) -> None:
    from don_predictor.ui.results import results_table
    from tests.test_trial_fixes import results_with

    results_table(results_with(ids, ["below"] * len(ids)), ["rf"])


def test_the_page_table_shows_the_row_only_when_ids_repeat():
    at = AppTest.from_function(_table_of, args=(TRIAL_IDS,), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    assert list(shown.columns[:2]) == ["row", "hsi_id"]
    assert shown.loc[shown["hsi_id"] == "upload_0001", "row"].tolist() == [2, 4, 9]

    at = AppTest.from_function(_table_of, args=(["a", "b", "c"],), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.columns[0] == "hsi_id"


def many_deciders() -> tuple[pd.DataFrame, Lots]:
    """Lot A: 30 samples of which 16 send_to_lab (more than the page's 10); lot B all below."""
    ids = [f"s{i:04d}" for i in range(40)]
    lots = ["A"] * 30 + ["B"] * 10
    verdicts = np.array(["below"] * 40, dtype=object)
    verdicts[1:30:2] = "send_to_lab"
    verdicts[28] = "send_to_lab"
    results = results_with(ids, list(verdicts), lots)
    return results, Lots(lots, ids, {"rf": verdicts})


def test_the_lots_file_names_every_deciding_sample_and_the_report_a_few():
    results, lots = many_deciders()
    deciding = [f"s{i:04d}" for i in [*range(1, 30, 2), 28]]
    deciding.sort()
    assert lots.table()["rf_decided_by"].iloc[0].endswith("and 6 more")  # the page's table: 10 named
    full = exports.lots_file(lots)
    assert full["rf_decided_by"].tolist() == [", ".join(deciding), "all 10 below"]
    assert full.drop(columns="rf_decided_by").equals(lots.table().drop(columns="rf_decided_by"))
    sheet = pd.read_excel(io.BytesIO(exports.workbook_bytes(results, full, METADATA)), sheet_name="lots")
    assert sheet["rf_decided_by"].iloc[0] == ", ".join(deciding)
    html = exports.report_html(results, lots, METADATA, ["rf"])
    assert f">{', '.join(deciding[:3])} and {len(deciding) - 3} more<" in html
    assert "(up to 3; the lots file names them all)" in html


def test_the_lots_file_names_repeated_ids_with_their_rows():
    ids, lots = ["a", "b", "a", "c"], ["L1", "L1", "L1", "L2"]
    results = results_with(ids, ["above", "below", "above", "below"], lots)
    table = Lots(lots, ids, {"rf": results["rf_verdict"].to_numpy()})
    assert exports.lots_file(table)["rf_decided_by"].iloc[0] == "a (row 1), a (row 3)"
    assert exports.lots_file(None) is None  # a file without a lot column


class Clock:
    """A clock the test moves: each download click reruns the page, seconds after the scoring."""

    moment = START = dt.datetime(2026, 1, 1, 6, 14, 5, tzinfo=dt.UTC)

    @classmethod
    def now(cls, tz=None):
        return cls.moment


def _score_and_download() -> None:
    import json

    import pandas as pd
    import streamlit as st

    from don_predictor.scoring.run import BackendScores, ScoredRun
    from don_predictor.trust.limits import custom_limit
    from don_predictor.ui.recording import screen_and_record
    from don_predictor.ui.results import run_details
    from don_predictor.ui.upload import Upload

    upload = Upload("trial.csv", b"hsi_id,400\na,0.5\n")
    limit = custom_limit(2000)
    run = ScoredRun(["a"], "hsi_id", ["ok"], {"rf": BackendScores("v1", pd.Series([500.0]).to_numpy())})
    screen_and_record(upload, None, {}, run, limit, "rf", 0.1)
    metadata = run_details(upload, limit, {"rf": "v1"}, {})
    st.session_state.setdefault("downloaded", []).append(json.loads(json.dumps(metadata))["created_utc"])


def test_every_download_of_a_run_carries_the_time_the_history_recorded(monkeypatch, tmp_path):
    from don_predictor.store.history import list_runs

    db = tmp_path / "history.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(db))
    on_a_clock(monkeypatch)
    at = AppTest.from_function(_score_and_download, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    Clock.moment += dt.timedelta(seconds=9)  # the user clicks a second download 9 s later: a rerun
    at.run()
    assert not at.exception, at.exception
    first, second = at.session_state["downloaded"]
    runs = list_runs(db)
    assert len(runs) == 1  # recorded once
    recorded = runs["created_utc"].iloc[0].to_pydatetime().isoformat(timespec="seconds")
    assert first == second == recorded  # the History's time, not the clock's at either rerun
    assert run_metadata.run_metadata(**RUN_ARGUMENTS)["created_utc"] == "2026-01-01T06:14:14+00:00"  # the clock moved


def on_a_clock(monkeypatch) -> None:
    """Scoring and downloads read the test's Clock, which starts at the scoring time."""
    from don_predictor.ui import recording

    monkeypatch.setattr(run_metadata, "dt", type("FakeDatetime", (), {"datetime": Clock, "UTC": dt.UTC}))
    monkeypatch.setattr(recording, "_now", Clock.now)
    monkeypatch.setattr(Clock, "moment", Clock.START)


RUN_ARGUMENTS = {
    "limit_key": "custom",
    "limit_label": "2,000 ppb",
    "limit_ppb": 2000.0,
    "risk": run_metadata.Risk(),
    "versions": {"rf": "v1"},
    "data_name": "trial.csv",
    "data_sha256": "ab" * 32,
    "thresholds": {},
}


def test_a_run_the_history_could_not_record_keeps_its_first_time(monkeypatch):

    def refuse(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("don_predictor.scoring.record.record_scored_run", refuse)
    on_a_clock(monkeypatch)
    at = AppTest.from_function(_score_and_download, default_timeout=30)
    at.run()
    started = Clock.moment.isoformat(timespec="seconds")
    Clock.moment += dt.timedelta(seconds=9)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["downloaded"] == [started, started]
    assert "could not be saved" in at.warning[0].value


def test_a_history_download_of_repeated_ids_has_the_row_column_too():
    rows = pd.DataFrame(
        {
            "run_id": ["r"] * 3,
            "position": [0, 1, 2],
            "sample_id": ["a", "b", "a"],
            "status": ["ok"] * 3,
            "rf_ppb": [100.0, 200.0, 300.0],
            "rf_verdict": ["below", "below", "above"],
        }
    )
    out = exports.history_frame(rows)
    assert list(out.columns[:2]) == ["row", "sample_id"] and out["row"].tolist() == [1, 2, 3]
    assert "row" not in exports.history_frame(rows.assign(sample_id=["a", "b", "c"])).columns
