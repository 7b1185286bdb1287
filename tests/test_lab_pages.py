"""The lab's loop as a lab uses it in the app: the Lab results page (per role; every row reported; a second upload
changes nothing), Monitoring's verified rate and check-sample chart, Status raising the lab's alarms, and the
gauges refreshed from the history whichever one fails."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import as_read
from prometheus_client import REGISTRY
from test_login import log_in_as, users_file

from don_predictor.config import Settings
from don_predictor.lab.records import record_worklist
from don_predictor.lab.results import record_results
from don_predictor.lab.worklist import build_worklist
from don_predictor.services import history_gauges
from don_predictor.services.health import check_health
from don_predictor.store.history import RunInfo, record_run
from don_predictor.store.registry import Registry

LIMIT = "eu-unprocessed-maize"  # 1,500 ppb


def screened_run(db, verdicts: list[str], ppb: list[float] | None = None, ids: list[str] | None = None) -> str:
    ids = ids or [f"s{i}" for i in range(len(verdicts))]
    results = pd.DataFrame(
        {
            "hsi_id": ids,
            "status": ["ok"] * len(ids),
            "rf_ppb": ppb or [200.0] * len(ids),
            "rf_in_domain": pd.array([True] * len(ids), dtype="boolean"),
            "rf_verdict": verdicts,
        }
    )
    return record_run(db, results, "hsi_id", RunInfo("rf", {"rf": "v1"}, "scan.csv", "abc", LIMIT))


def alarmed_history(db) -> None:
    """60 cleared samples, every one drawn to verify; the lab finds 12 above 1,500 ppb: the lower bound is over 5 %."""
    verdicts = ["below"] * 60
    run = screened_run(db, verdicts)
    listed = build_worklist(run, [f"s{i}" for i in range(60)], verdicts, share=1.0, seed=1, decided_by="rf")
    record_worklist(db, listed, None)
    values = "\n".join(f"s{i},{2500 if i < 12 else 300}" for i in range(60))
    record_results(db, f"hsi_id,vomitoxin_ppb\n{values}\n".encode(), "lab.csv")


def test_status_raises_the_verified_rate_and_a_broken_check_sample(tmp_path):
    db = tmp_path / "h.sqlite"
    registry = Registry(tmp_path / "models")
    screened_run(db, ["below"])
    quiet = check_health(registry, history_db=db, alpha=0.05, check_pattern="QC-*")
    assert not [r for r in quiet.reasons if "screen" in r or "check sample" in r]
    alarmed_history(db)
    for value in [1000.0, 1010.0, 990.0, 1005.0, 995.0, 1000.0, 1008.0, 992.0, 1003.0, 997.0, 1900.0]:
        screened_run(db, ["send_to_lab"], [value], ["QC-daily"])
    found = check_health(registry, history_db=db, alpha=0.05, check_pattern="QC-*")
    assert found.status == "DEGRADED"
    assert any("clears too many contaminated samples" in r and "12 of 60" in r for r in found.reasons), found.reasons
    assert any("check sample (RF) breaks the Westgard rule 1-3s" in r for r in found.reasons), found.reasons
    unwatched = check_health(registry, history_db=db, alpha=0.05, check_pattern="")  # no pattern: no check samples
    assert not [r for r in unwatched.reasons if "check sample" in r]


def test_the_history_gauges_refresh_each_gauge_even_when_another_fails(tmp_path, monkeypatch):
    db = tmp_path / "h.sqlite"
    alarmed_history(db)
    config = Settings.from_env({"DON_HISTORY_DB": str(db), "DON_MODELS_DIR": str(tmp_path / "models")})

    def broken(*_args, **_kwargs):
        raise RuntimeError("drift cannot be read")

    monkeypatch.setattr(history_gauges, "_refresh_drift", broken)
    history_gauges.refresh_history_gauges(config)
    labels = {"decided_by": "rf", "limit": LIMIT}
    assert REGISTRY.get_sample_value("don_lab_verified_cleared", labels) == 60
    assert REGISTRY.get_sample_value("don_lab_false_compliant_lower_bound", labels) > 0.05


@pytest.fixture()
def lab_app(guarded_app, tmp_path, monkeypatch):
    monkeypatch.setenv("DON_USERS_FILE", users_file(tmp_path))
    db = tmp_path / "history.sqlite"

    def sign_in(name: str, path: str):
        guarded_app.run()
        log_in_as(guarded_app, name)
        guarded_app.switch_page(path)
        guarded_app.run()
        assert not guarded_app.exception, [e.message for e in guarded_app.exception]
        return guarded_app

    return sign_in, db


def test_a_viewer_cannot_record_lab_results(lab_app):
    sign_in, _db = lab_app
    at = sign_in("vic", "pages/lab_results.py")
    assert not at.get("file_uploader")
    assert any("record lab results" in c.value for c in at.caption)


def test_the_lab_results_page_reports_every_row_and_a_second_upload_changes_nothing(lab_app):
    sign_in, db = lab_app
    screened_run(db, ["send_to_lab", "below"], ids=["A-1", "A-2"])
    at = sign_in("ann", "pages/lab_results.py")
    data = b"hsi_id,vomitoxin_ppb\nA-1,2400\nNOPE-9,100\nA-2,not a number\n"
    at.file_uploader(key="lab_results_file").set_value(("lab.csv", data, "text/csv"))
    at.run()
    at.button[0].click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    counts = {m.label: m.value for m in at.metric}
    assert (counts["recorded"], counts["unmatched"], counts["bad"]) == ("1", "1", "1"), counts
    report = at.dataframe[0].value
    assert report["row"].tolist() == [1, 2, 3] and "vomitoxin_ppb" in report["message"].iloc[2]
    at.button[0].click()
    at.run()
    counts = {m.label: m.value for m in at.metric}
    assert (counts["recorded"], counts["unchanged"]) == ("0", "1"), counts


def test_monitoring_shows_the_verified_false_compliant_rate_with_its_alarm(lab_app):
    sign_in, db = lab_app
    alarmed_history(db)
    at = sign_in("ann", "pages/monitoring.py")
    assert any(h.value == "Screening verified by the lab" for h in at.subheader)
    alarm = [e.value for e in at.error if "12 of 60 verified cleared samples" in e.value]
    assert alarm and "over 5%" in alarm[0], [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["verified cleared"] == "60"


def test_the_train_page_offers_the_lab_confirmed_samples_with_what_they_add(lab_app, real_data):
    from don_predictor.spectra.reader import read_spectra

    sign_in, db = lab_app
    lines = real_data.read_bytes().decode().splitlines()
    calibration = ("\n".join(lines[:61]) + "\n").encode()  # header + 60 rows
    scanned = read_spectra(("\n".join([lines[0], *lines[61:71]]) + "\n").encode())  # 10 other rows, screened
    verdicts = ["send_to_lab"] * 10
    run = screened_run(db, verdicts, ids=list(scanned.ids))
    record_worklist(db, build_worklist(run, scanned.ids, verdicts, share=0.0, seed=1, decided_by="rf"), scanned)
    results = "".join(f"{i},{1400 + k}\n" for k, i in enumerate(scanned.ids[:6]))  # the lab measured six
    record_results(db, f"hsi_id,vomitoxin_ppb\n{results}".encode(), "lab.csv")

    at = sign_in("ann", "pages/train.py")
    at.file_uploader(key="train_file").set_value(("calibration.csv", calibration, "text/csv"))
    at.run()
    box = at.checkbox(key="lab_confirmed_add")
    assert box.label.startswith("Add 6 lab-confirmed samples since")
    box.check()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    summary = [as_read(i.value) for i in at.info if "lab" in i.value]
    assert summary and "60 calibration rows + 6 lab-confirmed samples (6 near 1,000 ppb, 6 near 1,500 ppb" in summary[0]


def test_monitoring_draws_the_check_samples_and_names_the_pattern_as_plain_text(lab_app, monkeypatch):
    sign_in, db = lab_app
    monkeypatch.setenv("DON_CHECK_SAMPLE_PATTERN", "QC-*")
    for value in [1000.0, 1010.0, 990.0, 1005.0, 995.0, 1000.0, 1008.0, 992.0, 1003.0, 997.0, 1900.0]:
        screened_run(db, ["send_to_lab"], [value], ["QC-daily"])
    at = sign_in("ann", "pages/monitoring.py")
    caption = next(as_read(c.value) for c in at.caption if "Westgard" in c.value)
    assert "matches QC-*, against their running mean" in caption  # read as typed: no code span showing escapes
    assert any("the newest check sample breaks 1-3s" in e.value for e in at.error)
