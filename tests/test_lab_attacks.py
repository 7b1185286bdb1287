"""What an attack on the lab's loop found (session 9), each fixed: an output flag wrote a CSV over the prediction
history, one id on many rows made a report of gigabytes, a value was reported kept but dropped, LOGNAME chose the
CLI's user, and formula-like ids did not survive the worklist's round trip."""

from __future__ import annotations

import os
import pwd

import pandas as pd
from cli_helpers import run_cli
from test_cli import rf_models  # noqa: F401 (the module's small RF fixture)
from test_lab_results import _kept, _run, db  # noqa: F401 (the history fixture: SQLite and PostgreSQL)

from don_predictor.lab.results import CONFLICT, RECORDED, record_results
from don_predictor.services.auth import hash_password, write_user


def test_no_output_flag_may_write_over_the_history_or_into_the_models(rf_models, demo_upload, tmp_path, monkeypatch):  # noqa: F811
    history = tmp_path / "history.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(history))
    base = ("predict", "--data", demo_upload, "--out", tmp_path / "out.csv", "--models-dir", rf_models)
    assert run_cli(*base, "--backend", "rf").returncode == 0  # the history exists now
    before = history.read_bytes()
    refused = run_cli(*base, "--backend", "rf", "--worklist-out", history)
    assert refused.returncode == 2 and "the prediction history database" in refused.stderr
    assert history.read_bytes() == before
    inside = run_cli(*base, "--backend", "rf", "--lots-out", rf_models / "active.json")
    assert inside.returncode == 2 and "inside the models directory" in inside.stderr
    folder = run_cli(*base, "--backend", "rf", "--worklist-out", tmp_path)
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    assert history.read_bytes() == before  # refused before scoring: no second run recorded


def test_one_id_on_many_rows_gives_a_short_message_per_row(db):  # noqa: F811
    _run(db, ["a"])
    rows = "".join(f"a,{10 + i % 2}\n" for i in range(2000))
    report = record_results(db, f"hsi_id,vomitoxin_ppb\n{rows}".encode(), "lab.csv")
    assert report.count(CONFLICT) == 2000 and _kept(db).empty
    assert max(len(line) for line in report.lines()) < 300
    assert "and 1,990 more" in report.outcomes[0].message


def test_a_row_without_a_run_id_and_one_naming_the_newest_run_are_one_sample(db):  # noqa: F811
    run = _run(db, ["a"])
    data = f"hsi_id,vomitoxin_ppb,run_id\na,100,\na,200,{run}\n".encode()
    report = record_results(db, data, "lab.csv")
    assert [o.status for o in report.outcomes] == [CONFLICT, CONFLICT] and _kept(db).empty


def test_a_formula_like_id_comes_back_from_the_worklist_and_matches(db):  # noqa: F811
    _run(db, ["=1+1", "plain"])
    data = b"hsi_id,vomitoxin_ppb\n'=1+1,1200\nplain,300\n"  # as the worklist CSV wrote the first id
    report = record_results(db, data, "lab.csv")
    assert [o.status for o in report.outcomes] == [RECORDED, RECORDED]
    assert sorted(_kept(db)["sample_id"]) == ["=1+1", "plain"]


def test_the_command_line_user_is_the_process_owner_not_logname(tmp_path, monkeypatch):
    me = pwd.getpwuid(os.getuid()).pw_name
    users = tmp_path / "users.toml"
    write_user(users, me, hash_password("x" * 12), "viewer")
    write_user(users, "alice", hash_password("y" * 12), "analyst")
    monkeypatch.setenv("DON_USERS_FILE", str(users))
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "h.sqlite"))
    monkeypatch.setenv("LOGNAME", "alice")
    monkeypatch.setenv("USER", "alice")
    lab = tmp_path / "lab.csv"
    pd.DataFrame({"hsi_id": ["a"], "vomitoxin_ppb": [100]}).to_csv(lab, index=False)
    refused = run_cli("lab-results", "--file", lab)
    assert refused.returncode == 2 and "record lab results" in refused.stderr


def test_a_file_with_two_columns_of_one_name_is_refused_and_trailing_delimiters_keep_the_ids(db):  # noqa: F811
    import pytest

    from don_predictor.lab.results import LabResultsError

    _run(db, ["a", "b"])
    for header in ("hsi_id,vomitoxin_ppb,VOMITOXIN_PPB", "hsi_id,HSI_ID,vomitoxin_ppb"):
        with pytest.raises(LabResultsError, match="more than one column named"):
            record_results(db, f"{header}\na,100,9999\n".encode(), "lab.csv")
    report = record_results(db, b"hsi_id,vomitoxin_ppb\na,100,\nb,200,\n", "lab.csv")
    assert [(o.sample_id, o.status) for o in report.outcomes] == [("a", RECORDED), ("b", RECORDED)]


def test_utf16_without_a_byte_order_mark_is_read_as_the_spectra_reader_reads_it(db):  # noqa: F811
    _run(db, ["a"])
    report = record_results(db, "hsi_id,vomitoxin_ppb\na,100\n".encode("utf-16-le"), "lab.csv")
    assert [o.status for o in report.outcomes] == [RECORDED]


def test_values_no_lab_reports_are_bad_cells(db):  # noqa: F811
    from don_predictor.lab.results import BAD

    _run(db, ["a", "b", "c", "d", "e"])
    data = "hsi_id,vomitoxin_ppb,date\na,1e308,\nb,1_000,\nc,١٢٣,\nd,-0,\ne,100,2099-01-01\n".encode()
    report = record_results(db, data, "lab.csv")
    assert [o.status for o in report.outcomes] == [BAD, BAD, BAD, RECORDED, BAD]
    assert "more than any DON" in report.outcomes[0].message and "in the future" in report.outcomes[4].message
    assert _kept(db)["measured_ppb"].tolist() == [0.0]
