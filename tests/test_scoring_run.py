"""The typed run (scoring.score / decide / results_frame / pipeline) on hand-made runs: the joint verdict, lots, a
demo model beside a real one, batches joined into one run, and a recorded run that knows its own time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from don_predictor.scoring import BackendScores, ScoredRun, decide
from don_predictor.scoring.frame import results_frame
from don_predictor.scoring.pipeline import Recording, screen
from don_predictor.store.history import RunInfo, list_runs
from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB

LIMIT = 1000.0
NAN = np.nan


def interval_model(version: str, low: list[float], high: list[float], in_domain: list) -> BackendScores:
    """A model saved before the screening calibration: the interval rule decides (below / above when the whole
    interval is on one side and the spectrum is in domain)."""
    low_a, high_a = np.array(low, float), np.array(high, float)
    return BackendScores(
        version,
        ppb=(low_a + high_a) / 2,
        low=low_a,
        high=high_a,
        in_domain=pd.array(in_domain, dtype="boolean"),
        t2=np.zeros(len(low)),
        q=np.zeros(len(low)),
        baseline=np.zeros(len(low)),
        has_intervals=True,
    )


def hand_run() -> ScoredRun:
    # rows: both clear; both reject; they disagree; rf out of domain; not scored
    rf = interval_model("r1", [100, 2000, 100, 100, NAN], [500, 3000, 500, 500, NAN], [True, True, True, False, None])
    tf = interval_model("t1", [200, 1500, 1200, 100, NAN], [600, 2500, 1800, 500, NAN], [True, True, True, True, None])
    return ScoredRun(
        ids=["a", "b", "c", "d", "e"],
        id_column="hsi_id",
        statuses=["ok", "ok", "ok", "ok", "missing values in 2 bands"],
        backends={"rf": rf, "tf": tf},
        lots=["L1", "L1", "L2", "L2", None],
        lot_column="lot",
        measured=np.array([300.0, 2500, 900, 400, NAN]),
    )


def test_decide_gives_each_model_its_verdicts_and_the_joint_one_below_or_above_only_when_both_agree():
    decisions = decide(hand_run(), LIMIT)
    assert list(decisions.models["rf"].verdict) == [BELOW, ABOVE, BELOW, SEND_TO_LAB, ""]
    assert list(decisions.models["tf"].verdict) == [BELOW, ABOVE, ABOVE, BELOW, ""]
    assert list(decisions.joint.verdict) == [BELOW, ABOVE, SEND_TO_LAB, SEND_TO_LAB, ""]
    assert decisions.joint.deciding == ("rf", "tf")
    assert list(decisions.joint.in_domain.fillna(False)) == [True, True, True, False, False]
    assert decisions.thresholds == {"rf": None, "tf": None}  # the interval rule has no calibrated thresholds


def test_a_demo_model_beside_a_real_one_does_not_join_the_joint_decision():
    decisions = decide(hand_run(), LIMIT, demo=frozenset({"tf"}))
    assert decisions.joint.deciding == ("rf",)
    assert list(decisions.joint.verdict) == list(decisions.models["rf"].verdict)
    both_demo = decide(hand_run(), LIMIT, demo=frozenset({"rf", "tf"}))
    assert both_demo.joint.deciding == ("rf", "tf")  # no real model: both, as before


def test_the_lots_are_decided_once_with_the_joint_decision_first():
    lots = decide(hand_run(), LIMIT).lots.table()
    assert lots["lot"].tolist() == ["L1", "L2"]  # the row without a lot is in none
    assert [c for c in lots.columns if c.endswith("_lot_verdict")] == [
        "both_lot_verdict",
        "rf_lot_verdict",
        "tf_lot_verdict",
    ]
    assert lots["both_lot_verdict"].tolist() == [ABOVE, SEND_TO_LAB]
    assert lots["tf_lot_verdict"].tolist() == [ABOVE, ABOVE]
    without = ScoredRun(["a"], "hsi_id", ["ok"], {"rf": interval_model("r1", [100], [500], [True])})
    assert decide(without, LIMIT).lots is None and decide(without, LIMIT).joint is None  # one model: no joint


def test_the_results_frame_keeps_the_command_lines_columns_and_adds_the_joint_one_only_when_asked():
    run = hand_run()
    decisions = decide(run, LIMIT)
    fields = ["ppb", "low_ppb", "high_ppb", "in_domain", "t2", "q", "baseline", "verdict", "verdict_reason"]
    expected = ["hsi_id", "lot", "status", *(f"{b}_{f}" for b in ("rf", "tf") for f in fields)]
    assert list(results_frame(run, decisions).columns) == expected
    with_measured = results_frame(run, decisions, measured=True)
    assert list(with_measured.columns[:4]) == ["hsi_id", "lot", "status", "measured_ppb"]
    page = results_frame(run, decisions, joint=True)
    assert list(page.columns) == [*expected, "both_verdict", "both_in_domain"]
    assert page["both_verdict"].tolist() == [BELOW, ABOVE, SEND_TO_LAB, SEND_TO_LAB, ""]
    assert list(results_frame(run).columns) == [c for c in expected if "verdict" not in c]  # scores only


def test_a_files_batches_joined_are_the_run_of_the_whole_file():
    run = hand_run()
    parts = [
        ScoredRun(
            run.ids[a:b],
            run.id_column,
            run.statuses[a:b],
            {
                name: BackendScores(
                    s.version,
                    s.ppb[a:b],
                    s.low[a:b],
                    s.high[a:b],
                    s.in_domain[a:b],
                    s.t2[a:b],
                    s.q[a:b],
                    s.baseline[a:b],
                    has_intervals=True,
                )
                for name, s in run.backends.items()
            },
            run.lots[a:b],
            run.lot_column,
            run.measured[a:b],
        )
        for a, b in ((0, 2), (2, 5))
    ]
    joined = ScoredRun.concat(parts)
    pd.testing.assert_frame_equal(
        results_frame(joined, decide(joined, LIMIT), measured=True),
        results_frame(run, decide(run, LIMIT), measured=True),
    )


def test_the_pipeline_records_the_run_and_knows_the_time_it_stored(tmp_path):
    db = str(tmp_path / "history.sqlite")
    run = hand_run()
    info = RunInfo("cli", run.versions, "hand.csv", "0" * 64, "eu-unprocessed-maize", None)
    screened = screen(None, {}, LIMIT, decide(run, LIMIT).risk, run=run, recording=Recording(db, info, 0.1))
    runs = list_runs(db)
    assert runs["run_id"].tolist() == [screened.recorded.run_id]
    stored = runs["created_utc"].iloc[0].to_pydatetime()
    assert abs((stored - screened.recorded.created_utc).total_seconds()) < 1e-3
    assert list(screened.decisions.joint.verdict) == [BELOW, ABOVE, SEND_TO_LAB, SEND_TO_LAB, ""]
    assert screen(None, {}, LIMIT, screened.decisions.risk, run=run).recorded is None  # not asked to record
