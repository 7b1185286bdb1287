"""The screen verified on the lab's results: Clopper–Pearson bounds and the states on hand-made counts, the split of
random verification picks from the lab's own choices, `above` calls and send_to_lab errors, the series, the gauges,
and the whole path from a recorded run and its worklist through lab results to the figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pg_server import fresh_database
from prometheus_client import REGISTRY

from don_predictor.lab.records import record_worklist
from don_predictor.lab.results import record_results
from don_predictor.lab.verification import (
    ALARM,
    NOT_SHOWN,
    OK,
    TOO_FEW,
    current_model_rows,
    decisions,
    false_compliant,
    lab_outcomes,
    lower_bound,
    needed_for,
    needed_verified,
    refresh_verification_metrics,
    upper_bound,
    verification_stats,
    worklist_runs,
)
from don_predictor.lab.worklist import build_worklist
from don_predictor.store.history import RunInfo, record_run

LIMIT = "eu-unprocessed-maize"  # 1,500 ppb


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    return tmp_path / "h.sqlite" if request.param == "sqlite" else fresh_database()


def test_bounds_match_their_closed_forms_and_59_are_needed_at_5_percent():
    for n in (1, 10, 59, 200):
        assert upper_bound(0, n) == pytest.approx(1 - 0.05 ** (1 / n))
        assert lower_bound(n, n) == pytest.approx(0.05 ** (1 / n))
        assert lower_bound(0, n) == 0.0 and upper_bound(n, n) == 1.0
    assert needed_verified(0.05) == 59 and upper_bound(0, 59) <= 0.05 < upper_bound(0, 58)
    assert needed_verified(0.01) == 299
    assert lower_bound(3, 20) < 3 / 20 < upper_bound(3, 20)


def test_the_false_compliant_rate_from_the_draw():
    assert false_compliant(0.1, cleared=100, confirmed_above=30) == pytest.approx(10 / 40)
    assert false_compliant(0.0, 100, 0) == 0.0 and false_compliant(0.5, 0, 10) == 0.0
    assert needed_for(0.05, cleared=100, confirmed_above=95) == 59  # A = 0.95 C: the classic 59
    assert needed_for(0.05, 100, 40) == 141
    assert needed_for(0.05, 100, 0) == float("inf") and needed_for(0.05, 0, 3) == 0


def _outcomes(k: int, n: int, confirmed_above: int = 0, **extra) -> pd.DataFrame:
    """Hand-made decisions at 1,500 ppb: n random picks among the cleared, k truly above; `confirmed_above`
    send_to_lab samples the lab found above."""
    rows = []
    start = datetime(2026, 3, 1, tzinfo=UTC)

    def add(verdict, purpose, measured, ppb=100.0, day=0):
        rows.append(
            {
                "run_id": f"r{day}",
                "position": len(rows),
                "created_at": start + timedelta(days=day),
                "decided_by": "rf",
                "model_version": "rf v1",
                "limit_key": LIMIT,
                "verdict": verdict,
                "ppb": ppb,
                "purpose": purpose,
                "measured_ppb": measured,
            }
        )

    for i in range(n):
        add("below", "verify", 2000.0 if i < k else 300.0, day=i % 3)
    for _ in range(confirmed_above):
        add("send_to_lab", "confirm", 3000.0, 1400.0)
    for verdict, purpose, measured, ppb in extra.get("others", []):
        add(verdict, purpose, measured, ppb)
    return pd.DataFrame(rows)


def _drawn(cleared_per_day: list[int], called_above: int = 0) -> pd.DataFrame:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return pd.DataFrame(
        {
            "run_id": [f"r{d}" for d in range(len(cleared_per_day))],
            "created_at": [start + timedelta(days=d) for d in range(len(cleared_per_day))],
            "decided_by": "rf",
            "model_version": "rf v1",
            "limit_key": LIMIT,
            "cleared": cleared_per_day,
            "called_above": [called_above] + [0] * (len(cleared_per_day) - 1),
        }
    )


@pytest.mark.parametrize(
    ("k", "n", "cleared", "confirmed_above", "state"),
    [
        (0, 100, 100, 100, OK),  # none of 100 above, as many confirmed above: at most 2.9 %
        (0, 20, 100, 100, TOO_FEW),  # 56 are needed
        (0, 20, 100, 0, TOO_FEW),  # nothing confirmed above: no count would do
        (10, 20, 100, 10, ALARM),  # about 83 %, lower bound 75 %
        (2, 100, 100, 100, NOT_SHOWN),  # about 2 %, upper bound 5.8 %
        (0, 0, 0, 5, OK),  # nothing cleared: nothing can be falsely cleared
    ],
)
def test_the_state_on_hand_made_counts(k, n, cleared, confirmed_above, state):
    (found,) = verification_stats(_outcomes(k, n, confirmed_above), 0.05, _drawn([cleared]))
    assert (found.verified, found.truly_above, found.cleared, found.confirmed_above) == (n, k, cleared, confirmed_above)
    assert found.state == state
    if n:
        assert found.rate == pytest.approx(false_compliant(k / n, cleared, confirmed_above))
        assert found.lower == pytest.approx(false_compliant(lower_bound(k, n), cleared, confirmed_above))
        assert found.upper == pytest.approx(false_compliant(upper_bound(k, n), cleared, confirmed_above))
        assert found.lower <= found.rate <= found.upper
    assert found.message  # a plain sentence for the page


def test_a_model_whose_draws_have_no_lab_result_yet_is_too_few():
    (found,) = verification_stats(_outcomes(0, 0).reindex(columns=_outcomes(0, 1).columns), 0.05, _drawn([40], 3))
    assert (found.verified, found.cleared, found.confirmed_above, found.state) == (0, 40, 3, TOO_FEW)
    assert found.rate is None and found.series["cumulative_verified"].tolist() == [0]
    assert verification_stats(_outcomes(0, 0), 0.05) == []


def test_only_random_picks_count_in_the_rate_and_the_other_figures():
    others = [
        ("below", "", 5000.0, 200.0),  # the lab's own choice: not in the rate
        ("above", "", 3000.0, 2500.0),  # confirmed
        ("above", "", 900.0, 2600.0),  # not confirmed
        ("send_to_lab", "confirm", 1400.0, 1500.0),  # error +100
        ("send_to_lab", "confirm", 1800.0, 1500.0),  # error -300, truly above
    ]
    (found,) = verification_stats(_outcomes(0, 10, others=others), alpha=0.05, worklists=_drawn([200], 7))
    assert (found.verified, found.truly_above, found.cleared) == (10, 0, 200)
    assert (found.cleared_lab_choice, found.cleared_lab_choice_above) == (1, 1)
    assert (found.above_calls, found.above_confirmed) == (2, 1)
    # the confirmed above call, the send_to_lab sample at 1,800 ppb, and 5 above calls the lab did not measure
    assert found.confirmed_above == 2 + 5
    assert found.sent_to_lab == 2 and found.sent_mae_ppb == 200.0 and found.sent_bias_ppb == -100.0


def test_the_series_is_cumulative_per_day():
    # picks 0..8 on days 0, 1, 2, 0, 1, 2, ...: picks 0-2 (one a day) are above; 9 truly above confirmed on day 0
    found = verification_stats(_outcomes(3, 9, confirmed_above=9), 0.05, _drawn([30, 30, 30]))[0]
    series = found.series
    assert series["verified"].tolist() == [3 + 0, 3, 3] and series["truly_above"].tolist() == [1, 1, 1]
    assert series["cumulative_verified"].tolist() == [3, 6, 9]
    rates = [false_compliant(1 / 3, 30, 9), false_compliant(2 / 6, 60, 9), false_compliant(3 / 9, 90, 9)]
    assert series["cumulative_rate"].tolist() == pytest.approx(rates)
    assert series["upper"].iloc[-1] == pytest.approx(found.upper)
    by_run = verification_stats(_outcomes(3, 9), alpha=0.05, by="run")[0].series
    assert len(by_run) == 3


def test_versions_and_limits_are_kept_apart_and_the_newest_version_is_current():
    frame = _outcomes(0, 5)
    newer = _outcomes(1, 4).assign(model_version="rf v2", created_at=lambda f: f["created_at"] + timedelta(days=10))
    both = pd.concat([frame, newer], ignore_index=True)
    found = {f.model_version: f for f in verification_stats(both, alpha=0.05)}
    assert (found["rf v1"].verified, found["rf v2"].verified, found["rf v2"].truly_above) == (5, 4, 1)
    assert set(current_model_rows(both)["model_version"]) == {"rf v2"}


def test_a_joint_decision_is_below_only_when_every_backend_clears():
    rows = pd.DataFrame(
        {
            "run_id": ["r"] * 4,
            "position": [0, 0, 1, 1],
            "measured_ppb": [10.0, 10.0, 20.0, 20.0],
            "created_at": [datetime(2026, 1, 1, tzinfo=UTC)] * 4,
            "model_versions": ['{"rf": "1", "tf": "2"}'] * 4,
            "limit_key": [LIMIT] * 4,
            "decided_by": ["both"] * 4,
            "purpose": [None] * 4,
            "picked_verdict": [None] * 4,
            "backend": ["rf", "tf"] * 2,
            "verdict": ["below", "below", "below", "above"],
            "ppb": [100.0, 300.0, 100.0, 3000.0],
        }
    )
    out = decisions(rows)
    assert out["verdict"].tolist() == ["below", "send_to_lab"] and out["ppb"].tolist() == [200.0, 1550.0]
    assert out["model_version"].tolist() == ["rf 1, tf 2"] * 2
    alone = decisions(rows.assign(decided_by=None))  # no worklist: each backend on its own
    assert alone["decided_by"].tolist() == ["rf", "tf", "rf", "tf"] and set(alone["purpose"]) == {""}


def test_from_a_recorded_run_to_the_figures_and_the_gauges(db):
    n = 200
    rng = np.random.default_rng(0)
    verdicts = ["below"] * 180 + ["send_to_lab"] * 20
    results = pd.DataFrame(
        {
            "hsi_id": [f"s{i}" for i in range(n)],
            "status": ["ok"] * n,
            "rf_ppb": rng.uniform(100, 3000, n),
            "rf_verdict": verdicts,
        }
    )
    run = record_run(db, results, "hsi_id", RunInfo("cli", {"rf": "v1"}, "a.csv", "abc", LIMIT))
    listed = build_worklist(run, results["hsi_id"].tolist(), verdicts, share=0.05, seed=2, decided_by="rf")
    record_worklist(db, listed, None)
    lines = ["hsi_id,vomitoxin_ppb"]
    for i, sample in enumerate(listed.ids):
        lines.append(f"{sample},{2000 if i == 0 else 100}")  # the first listed row is truly above
    lines.append("s0,4000" if "s0" not in listed.ids else "s1,4000")  # a cleared sample the lab chose itself
    record_results(db, ("\n".join(lines) + "\n").encode(), "lab.csv")
    (found,) = verification_stats(lab_outcomes(db), alpha=0.05, worklists=worklist_runs(db))
    first_is_verify = listed.purposes[0] == "verify"
    assert found.verified == listed.verify_count == 9 and found.cleared == 180
    assert found.truly_above == int(first_is_verify) and found.cleared_lab_choice == 1
    assert found.confirmed_above == int(not first_is_verify)
    assert found.sent_to_lab == listed.confirm_count == 20
    # a cleared sample above and none sent to the lab above: every truly-above sample seen was cleared
    assert found.state == (ALARM if first_is_verify else TOO_FEW)
    assert lab_outcomes(db, since=datetime.now(UTC) + timedelta(days=1)).empty
    refresh_verification_metrics(db, 0.05)
    labels = {"decided_by": "rf", "limit": LIMIT}
    assert REGISTRY.get_sample_value("don_lab_verified_cleared", labels) == 9
    assert REGISTRY.get_sample_value("don_lab_verified_needed", labels) == needed_for(0.05, 180, found.confirmed_above)
    assert REGISTRY.get_sample_value("don_lab_false_compliant_alpha") == 0.05
