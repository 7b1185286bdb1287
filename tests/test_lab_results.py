"""Lab results in, on a real SQLite file and a real PostgreSQL server: every row gets an outcome (bad cells by row
and column, unmatched ids, duplicates, conflicts), matching takes the newest run or the given one, a re-upload
changes nothing, the worklist and its spectra are kept with the run, and `lab-results` reports row by row."""

from __future__ import annotations

import getpass

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run_cli
from pg_server import fresh_database
from sqlalchemy import func, select

from don_predictor.lab.records import keep_for_lab, record_worklist, run_worklist
from don_predictor.lab.results import (
    BAD,
    CONFLICT,
    DUPLICATE,
    RECORDED,
    UNCHANGED,
    UNMATCHED,
    LabResultsError,
    read_results,
    record_results,
)
from don_predictor.lab.worklist import build_worklist
from don_predictor.spectra.table import SpectraTable
from don_predictor.store.history import RunInfo, delete_older_than, engine, record_run
from don_predictor.store.history import tables as t

INFO = RunInfo(source="cli", model_versions={"rf": "v1"}, file_name="a.csv", file_sha256="abc", limit_key="fda-1ppm")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    return tmp_path / "h.sqlite" if request.param == "sqlite" else fresh_database()


def _run(db, ids, measured=None, verdicts=None, status=None) -> str:
    n = len(ids)
    results = pd.DataFrame(
        {
            "hsi_id": ids,
            "status": status or ["ok"] * n,
            "rf_ppb": np.linspace(100, 3000, n),
            "rf_verdict": verdicts or ["below"] * n,
        }
    )
    return record_run(db, results, "hsi_id", INFO, measured=None if measured is None else pd.Series(measured))


def _statuses(report) -> list[str]:
    return [o.status for o in report.outcomes]


def _kept(db) -> pd.DataFrame:
    lr = t.lab_results
    with engine(db).connect() as connection:
        rows = connection.execute(select(lr.c.run_id, lr.c.position, lr.c.sample_id, lr.c.measured_ppb)).all()
    return pd.DataFrame(rows, columns=["run_id", "position", "sample_id", "measured_ppb"])


def test_every_row_gets_an_outcome_and_a_reupload_changes_nothing(db):
    run = _run(db, ["a", "b", "c", "d"], status=["ok", "ok", "ok", "not scored: column '3': missing value"])
    data = (
        b"hsi_id,vomitoxin_ppb,method,date,uncertainty_ppb\n"
        b"a,1200,HPLC,2026-03-01,50\n"  # recorded
        b"b,abc,HPLC,,\n"  # bad value
        b"a,1200,,,\n"  # duplicate, same value
        b"zz,10,,,\n"  # unknown id
        b"d,10,,,\n"  # only an unscored row: unmatched
        b"c,5,,yesterday,-3\n"  # two bad cells
        b",5,,,\n"  # no id
    )
    report = record_results(db, data, "lab.csv", user="ann")
    assert _statuses(report) == [RECORDED, BAD, DUPLICATE, UNMATCHED, UNMATCHED, BAD, BAD]
    assert [o.row for o in report.outcomes] == list(range(1, 8))
    assert "column 'vomitoxin_ppb'" in report.outcomes[1].message and "'abc'" in report.outcomes[1].message
    assert "column 'date'" in report.outcomes[5].message and "column 'uncertainty_ppb'" in report.outcomes[5].message
    assert "row 1" in report.outcomes[2].message
    kept = _kept(db)
    assert kept.to_dict("records") == [{"run_id": run, "position": 0, "sample_id": "a", "measured_ppb": 1200.0}]
    again = record_results(db, data, "lab.csv")
    assert _statuses(again) == [UNCHANGED, BAD, DUPLICATE, UNMATCHED, UNMATCHED, BAD, BAD]
    assert _kept(db).equals(kept) and report.matched == 1 and again.matched == 1
    assert report.lines()[-1] == "7 rows: 1 recorded, 0 unchanged, 2 unmatched, 0 conflict, 1 duplicate, 3 bad"


def test_conflicting_values_are_reported_and_not_written(db):
    _run(db, ["a", "b", "c"], measured=[None, 800.0, None])
    record_results(db, b"hsi_id,vomitoxin_ppb\na,1200\n", "first.csv")
    data = b"hsi_id,vomitoxin_ppb\na,1300\nb,900\nc,10\nc,11\n"
    report = record_results(db, data, "second.csv")
    assert _statuses(report) == [CONFLICT, CONFLICT, CONFLICT, CONFLICT]
    assert "1200" in report.outcomes[0].message and "lab value already kept" in report.outcomes[0].message
    assert "upload's own value" in report.outcomes[1].message and "800" in report.outcomes[1].message
    assert "rows 3, 4" in report.outcomes[2].message  # the file contradicts itself: neither is kept
    assert _kept(db)["measured_ppb"].tolist() == [1200.0]
    assert _statuses(record_results(db, b"hsi_id,vomitoxin_ppb\nb,800\n", "third.csv")) == [RECORDED]


def test_the_newest_run_is_matched_unless_a_run_id_is_given(db):
    old = _run(db, ["a", "b"])
    new = _run(db, ["a", "a"])  # a re-scanned: two rows of one sample
    report = record_results(db, b"hsi_id,vomitoxin_ppb\na,100\nb,200\n", "lab.csv")
    assert [(o.status, o.run_id, o.matched_rows) for o in report.outcomes] == [
        (RECORDED, new, 2),
        (RECORDED, old, 1),
    ]
    report = record_results(db, f"hsi_id,vomitoxin_ppb,run_id\na,150,{old}\nb,1,nope\n".encode(), "lab.csv")
    assert [(o.status, o.run_id) for o in report.outcomes] == [(RECORDED, old), (UNMATCHED, "nope")]
    kept = _kept(db).sort_values(["run_id", "position"])
    assert sorted(map(tuple, kept[["sample_id", "measured_ppb"]].to_numpy())) == [
        ("a", 100.0),
        ("a", 100.0),
        ("a", 150.0),
        ("b", 200.0),
    ]


def test_the_worklist_and_its_spectra_are_kept_bounded_and_go_with_their_run(db):
    ids = [f"s{i}" for i in range(30)]
    verdicts = ["below"] * 25 + ["send_to_lab"] * 5
    run = _run(db, ids, verdicts=verdicts)
    X = np.arange(30 * 4, dtype=float).reshape(30, 4)
    table = SpectraTable(ids, "hsi_id", ["1", "2", "3", "4"], X, None)
    listed = build_worklist(run, ids, verdicts, share=0.1, seed=3, decided_by="rf")
    record_worklist(db, listed, table, keep_max=100)
    kept = run_worklist(db, run)
    assert kept["sample_id"].tolist() == listed.ids and kept["purpose"].tolist() == listed.purposes
    assert kept["purpose"].value_counts().to_dict() == {"confirm": 5, "verify": 3}
    with engine(db).connect() as connection:
        spectra = connection.execute(select(t.lab_spectra.c.position, t.lab_spectra.c.spectrum)).all()
        head = connection.execute(select(t.lab_worklists)).mappings().one()
    assert {p: np.frombuffer(b, "<f8").tolist() for p, b in spectra} == {
        int(p): X[p].tolist() for p in listed.positions
    }
    assert head["seed"] == 3 and head["verify_share"] == 0.1 and head["cleared"] == 25 and head["called_above"] == 0
    # a second run over the cap: the measured spectra are kept before the unmeasured ones
    record_results(db, b"hsi_id,vomitoxin_ppb\ns25,2000\n", "lab.csv")
    second = _run(db, ids, verdicts=verdicts)
    record_worklist(db, build_worklist(second, ids, verdicts, share=0.0, seed=1, decided_by="rf"), table, keep_max=6)
    with engine(db).connect() as connection:
        left = connection.execute(select(t.lab_spectra.c.run_id, t.lab_spectra.c.position)).all()
    assert len(left) == 6 and (run, 25) in left
    assert delete_older_than(db, -1) == 2
    with engine(db).connect() as connection:
        for table_ in (t.lab_worklists, *t.LAB_ROW_TABLES):
            assert connection.execute(select(func.count()).select_from(table_)).scalar_one() == 0


def test_keep_for_lab_uses_the_settings(tmp_path):
    from don_predictor.config import Settings

    db = tmp_path / "h.sqlite"
    ids = [f"s{i}" for i in range(40)]
    run = _run(db, ids)
    table = SpectraTable(ids, "hsi_id", ["1", "2"], np.ones((40, 2)), None)
    config = Settings.from_env({"DON_VERIFY_SHARE": "10%", "DON_LAB_SPECTRA_MAX": "0"})
    listed = keep_for_lab(db, run, table, ["below"] * 40, decided_by="rf", config=config)
    assert listed.verify_count == 4 and len(run_worklist(db, run)) == 4
    with engine(db).connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.lab_spectra)).scalar_one() == 0


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"sample,ppb\nx,1\n", "no sample id column"),
        (b"hsi_id,ppb\nx,1\n", "no 'vomitoxin_ppb' column"),
    ],
)
def test_a_file_that_is_not_lab_results_is_one_plain_error(data, problem):
    with pytest.raises(LabResultsError, match=problem):
        read_results(data)


def test_a_short_row_has_empty_cells_not_nan():
    rows = read_results(b"hsi_id,vomitoxin_ppb,method\nx,5,HPLC\ny\n")
    assert rows[1].sample_id == "y" and rows[1].problems == ("column 'vomitoxin_ppb': no value",)


def test_semicolons_decimal_commas_and_the_uploads_own_id_column():
    rows = read_results(b"Probe;vomitoxin_ppb;uncertainty_ppb\nx;1234,5;1,200\n", id_column="Probe")
    assert rows[0].sample_id == "x" and rows[0].measured_ppb == 1234.5
    assert rows[0].problems == (
        "column 'uncertainty_ppb': '1,200' is ambiguous (a thousands separator or a decimal comma?)",
    )


def test_the_command_reports_row_by_row_and_needs_a_role_that_records_results(tmp_path, monkeypatch):
    db = tmp_path / "h.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(db))
    _run(db, ["a", "b"])
    good = tmp_path / "lab.csv"
    good.write_text("hsi_id,vomitoxin_ppb\na,100\nq,5\n")
    done = run_cli("lab-results", "--file", good)
    assert done.returncode == 0, done.stderr
    # The report's lines (an app test earlier in this process may have routed the log to stdout too).
    assert [line for line in done.stdout.splitlines() if line.startswith("row ")][:2] == [
        "row 1, id 'a': recorded: 100 ppb kept for run " + _kept(db)["run_id"][0],
        "row 2, id 'q': unmatched: no scored row with this id in the history",
    ]
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("hsi_id,vomitoxin_ppb\nq,5\n")
    done = run_cli("lab-results", "--file", unknown)
    assert done.returncode == 2 and "no row of" in done.stderr and "Traceback" not in done.stderr
    assert run_cli("lab-results", "--file", tmp_path / "missing.csv").returncode == 2
    from don_predictor.store.history import list_audit

    assert "lab_results" in list_audit(db)["action"].tolist()
    users = tmp_path / "users.toml"
    from don_predictor.services.auth import hash_password, write_user

    write_user(users, getpass.getuser(), hash_password("x" * 12), "viewer")
    monkeypatch.setenv("DON_USERS_FILE", str(users))
    done = run_cli("lab-results", "--file", good)
    assert done.returncode == 2 and "record lab results" in done.stderr and "analyst" in done.stderr
