"""The retraining set: the calibration table plus the lab-confirmed samples kept in the history (their spectra on the
calibration's bands, their measured values), and what they add near each limit and outside the domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pg_server import fresh_database

from don_predictor.lab.records import record_worklist
from don_predictor.lab.results import record_results
from don_predictor.lab.retraining import confirmed_samples, retraining_set
from don_predictor.lab.worklist import build_worklist
from don_predictor.spectra.table import SpectraTable
from don_predictor.store.history import RunInfo, record_run


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    return tmp_path / "h.sqlite" if request.param == "sqlite" else fresh_database()


def _scored_run(db, ids, X, bands, in_domain):
    n = len(ids)
    results = pd.DataFrame(
        {
            "hsi_id": ids,
            "status": ["ok"] * n,
            "rf_ppb": [1000.0] * n,
            "rf_in_domain": pd.array(in_domain, dtype="boolean"),
            "rf_verdict": ["send_to_lab"] * n,
        }
    )
    run = record_run(db, results, "hsi_id", RunInfo("cli", {"rf": "v1"}, "a.csv", "abc", "fda-1ppm"))
    table = SpectraTable(list(ids), "hsi_id", bands, X, None)
    record_worklist(db, build_worklist(run, list(ids), ["send_to_lab"] * n, share=0, seed=0, decided_by="rf"), table)
    return run


def test_confirmed_samples_join_the_calibration_on_its_bands(db):
    X = np.arange(12, dtype=float).reshape(4, 3)
    # scored on the same bands in another order: columns 3, 1, 2
    _scored_run(db, ["a", "b", "c", "d"], X, ["3", "1", "2"], [True, False, True, True])
    _scored_run(db, ["e"], np.ones((1, 2)), ["1", "2"], [True])  # another instrument's bands
    record_results(db, b"hsi_id,vomitoxin_ppb\na,900\nb,1400\nc,6000\ne,10\n", "lab.csv")  # d: never measured
    calibration = SpectraTable(["k1", "k2"], "hsi_id", ["1", "2", "3"], np.zeros((2, 3)), np.array([100.0, 200.0]))
    confirmed = confirmed_samples(db)
    table, summary = retraining_set(calibration, confirmed)
    assert table.n_rows == 5 and table.ids[:2] == ["k1", "k2"] and sorted(table.ids[2:]) == ["a", "b", "c"]
    row = {sample: i for i, sample in enumerate(table.ids)}
    assert table.X[row["a"]].tolist() == [1.0, 2.0, 0.0]  # back in the calibration's band order
    assert table.target[row["c"]] == 6000.0 and table.trainable.all()
    assert summary.added == 3 and summary.other_bands == 1 and summary.out_of_domain == 1
    assert summary.near_limit == {1000.0: 2, 1500.0: 2, 5000.0: 1}  # ±50 %: 900, 1400 | 900, 1400 | 6000
    assert summary.above_limit == {1000.0: 2, 1500.0: 1, 5000.0: 1}
    assert "3 lab-confirmed samples" in summary.lines()[0]
    _, checked = retraining_set(calibration, confirmed, domain=lambda X: X[:, 0] > 3)
    assert checked.out_of_domain == 1  # the current model's check: a (first band 1) is out
    assert len(confirmed_samples(db, limit=2).ids) == 2
    assert confirmed_samples(db, since=datetime.now(UTC) + timedelta(days=1)).ids == []


def test_a_calibration_without_values_is_refused():
    table = SpectraTable(["k"], None, ["1"], np.zeros((1, 1)), None)
    with pytest.raises(ValueError, match="no measured values"):
        retraining_set(table, _empty())


def _empty():
    from don_predictor.lab.retraining import Confirmed

    return Confirmed([], [], [], np.array([]), [])
