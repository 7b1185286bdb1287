"""Westgard rules on a check sample's predictions, each on a hand-made series that breaks it and on one that
breaks none; the id pattern is a case-sensitive glob; the series is read from the history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pg_server import fresh_database
from prometheus_client import REGISTRY

from don_predictor.config import Settings
from don_predictor.lab.check_samples import (
    check_sample_series,
    is_check_sample,
    latest_violations,
    refresh_check_sample_metrics,
    westgard,
)
from don_predictor.store.history import RunInfo, record_run

# A steady baseline: mean 1000, SD about 10 (alternating ±10 around 1000).
BASE = [1000.0 + (10.0 if i % 2 else -10.0) for i in range(20)]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    return tmp_path / "h.sqlite" if request.param == "sqlite" else fresh_database()


def _rules_at_end(tail: list[float]) -> list[str]:
    return latest_violations(westgard(np.array(BASE + tail)))


def test_each_rule_fires_on_its_own_series():
    assert _rules_at_end([1040.0]) == ["1-3s"]  # +4 SD
    assert _rules_at_end([1025.0, 1025.0]) == ["2-2s"]  # two over +2 SD
    assert _rules_at_end([1025.0, 975.0]) == ["R-4s"]  # +2.5 SD then -2.5 SD
    assert _rules_at_end([1005.0] * 10) == ["10x"]  # ten just over the mean


def test_a_steady_series_breaks_no_rule():
    quiet = westgard(np.array([*BASE, 1010.0, 990.0, 1015.0, 985.0]))
    assert (quiet["rules"] == "").all()


def test_the_baseline_is_the_running_mean_before_each_point():
    chart = westgard(np.array([*BASE, 1040.0]))
    assert chart["mean"].iloc[:10].isna().all()  # the first ten only build the baseline
    assert chart["mean"].iloc[-1] == np.mean(BASE) and chart["sd"].iloc[-1] == np.std(BASE, ddof=1)
    assert westgard(np.array([5000.0] * 5))["rules"].tolist() == [""] * 5  # too short to judge


def test_the_pattern_is_a_case_sensitive_glob_and_a_setting():
    assert is_check_sample("QC-0301", "QC-*") and not is_check_sample("qc-0301", "QC-*")
    assert is_check_sample("CHK-07", "CHK-??") and not is_check_sample("CHK-007", "CHK-??")
    assert not is_check_sample("QC-1", "")
    assert Settings.from_env({"DON_CHECK_SAMPLE_PATTERN": " QC-* "}).check_sample_pattern == "QC-*"


def test_the_series_comes_from_the_history_oldest_first(db):
    for day, value in enumerate([*BASE, 1040.0]):
        results = pd.DataFrame(
            {
                "hsi_id": ["QC-1", f"s{day}", "QC_1"],  # QC_1: a LIKE wildcard must not match it
                "status": ["ok"] * 3,
                "rf_ppb": [value, 50.0, 7.0],
                "rf_verdict": ["below"] * 3,
            }
        )
        record_run(db, results, "hsi_id", RunInfo("cli", {"rf": "v1"}, "a.csv", f"sha{day}", "fda-1ppm"))
    chart = check_sample_series(db, "QC-*", "rf")
    assert chart["sample_id"].unique().tolist() == ["QC-1"] and chart["value"].tolist() == [*BASE, 1040.0]
    assert chart["time"].is_monotonic_increasing and latest_violations(chart) == ["1-3s"]
    assert check_sample_series(db, "", "rf").empty
    assert refresh_check_sample_metrics(db, "QC-*", ["rf"]) == {"rf": ["1-3s"]}
    assert REGISTRY.get_sample_value("don_check_sample_violations", {"backend": "rf"}) == 1
