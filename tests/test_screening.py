"""The screening engine: Mondrian conformal thresholds on hand-made scores, too few positives, typed limits, the
fallback for older bundles, and the lot rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from don_predictor.scoring.frame_views import lot_table
from don_predictor.spectra.reader import read_spectra
from don_predictor.trust.bundle import Trust
from don_predictor.trust.domain import DomainModel
from don_predictor.trust.limits import DEFAULT_LIMIT, get_limit
from don_predictor.trust.screening import (
    ABOVE,
    BELOW,
    SEND_TO_LAB,
    Risk,
    ScreeningCalibration,
    conformal_verdicts,
    interval_verdicts,
    lot_verdict,
    positives_needed,
)


def calibration(n_above: int, n_below: int) -> ScreeningCalibration:
    """Truly-above samples (2,000 ppb) scored 1..n_above; truly-below ones (100 ppb) scored 1,001..1,000+n_below."""
    y = np.r_[np.full(n_above, 2000.0), np.full(n_below, 100.0)]
    score = np.r_[np.arange(1, n_above + 1), 1000 + np.arange(1, n_below + 1)].astype(float)
    return ScreeningCalibration(y, score)


def test_positives_needed_is_ceil_one_over_alpha_minus_one():
    assert positives_needed(0.05) == 19 and positives_needed(0.1) == 9 and positives_needed(0.01) == 99
    assert positives_needed(0.03) == 33


def test_thresholds_are_the_exact_finite_sample_ranks():
    cal = calibration(n_above=39, n_below=59)
    t = cal.thresholds(1000, Risk(0.05, 0.05))
    # k = floor(0.05 * 40) = 2: under the 2nd smallest truly-above score; k' = floor(0.05 * 60) = 3: over the 3rd
    # largest truly-below score (1,059, 1,058, 1,057).
    assert (t.n_above, t.n_below) == (39, 59)
    assert t.below_under_ppb == 2.0 and t.above_over_ppb == 1057.0 and t.notes() == []
    v = conformal_verdicts(np.array([1.0, 1.999, 2.0, 500.0, 1057.0, 1057.5, np.nan]), np.ones(7, bool), t)
    assert v.verdict.tolist() == [BELOW, BELOW, SEND_TO_LAB, SEND_TO_LAB, SEND_TO_LAB, ABOVE, ""]
    assert v.reason[-1] == "" and "under" in v.reason[0] and "over" in v.reason[5]
    # A reason read on its own (a results file) names the limit and the risk it was decided at.
    assert v.reason[0] == "score under 2 ppb: below 1,000 ppb, false-compliant ≤ 5%"
    assert v.reason[5] == "score over 1,057 ppb: above 1,000 ppb, false-suspect ≤ 5%"


def test_with_exactly_the_positives_needed_one_rank_clears():
    t = calibration(n_above=19, n_below=19).thresholds(1000)
    assert t.below_under_ppb == 1.0 and t.above_over_ppb == 1019.0  # k = floor(0.05 * 20) = 1


def test_too_few_positives_clears_nothing_calls_nothing_above_and_says_so():
    t = calibration(n_above=18, n_below=100).thresholds(1000)
    assert t.below_under_ppb is None and t.above_over_ppb is None
    cleared, called = t.notes()
    assert "no sample can be cleared below 1,000 ppb" in cleared and "holds 18" in cleared and "at least 19" in cleared
    assert "no sample can be called above 1,000 ppb" in called and "only 18 samples above" in called
    v = conformal_verdicts(np.array([0.0, 5000.0]), np.ones(2, bool), t)
    assert v.verdict.tolist() == [SEND_TO_LAB, SEND_TO_LAB]  # a high score with nothing to check it against
    assert v.reason[0] == "too few calibration samples above the limit to decide (18; 19 needed)"
    # A looser risk needs fewer: at 10 %, 9 positives are enough to clear, and to call above.
    looser = calibration(n_above=18, n_below=100).thresholds(1000, Risk(0.10, 0.10))
    assert looser.below_under_ppb == 1.0 and looser.above_over_ppb is not None


def test_above_needs_a_score_over_the_limit_itself():
    """Contaminated samples are rare at a high limit: the top 5 % of the clean samples' scores lies far under it.
    A sample the model puts under the limit is never called above it (a new user saw 7,174 ppb 'above 50,000')."""
    y = np.r_[np.full(20, 60_000.0), np.full(380, 500.0)]
    score = np.r_[np.linspace(5_000, 100_000, 20), np.linspace(100, 8_000, 380)]
    t = ScreeningCalibration(y, score).thresholds(50_000)
    assert t.above_over_ppb == 50_000.0  # the plain rank rule alone would put it near 7,600 ppb
    v = conformal_verdicts(np.array([7_174.0, 49_000.0, 51_000.0]), np.ones(3, bool), t)
    assert v.verdict.tolist() == [SEND_TO_LAB, SEND_TO_LAB, ABOVE]
    assert v.reason[2] == "score over 50,000 ppb: above 50,000 ppb, false-suspect ≤ 5%"
    # Where the clean samples' top scores lie over the limit, the rank rule's cut-off stands.
    assert calibration(n_above=39, n_below=59).thresholds(1000).above_over_ppb == 1057.0


def test_a_typed_limit_recalibrates_on_the_same_data():
    y = np.linspace(0, 20_000, 401)  # 0, 50, ..., 20,000 ppb
    cal = ScreeningCalibration(y, y * 1.0)  # a perfect score
    for limit in (1000.0, 2500.0, get_limit("7777").ppb):
        t = cal.thresholds(limit)
        assert t.below_under_ppb > limit and t.above_over_ppb <= limit  # perfect scores: every sample decided
        assert t.n_above == int((y > limit).sum())
    assert get_limit("7777").key == "custom-7777ppb" and get_limit("custom-7777ppb").ppb == 7777
    with pytest.raises(ValueError, match="positive number"):
        get_limit("0")


def test_out_of_domain_is_always_send_to_lab():
    t = calibration(39, 59).thresholds(1000)
    v = conformal_verdicts(np.array([0.0, 9999.0]), np.array([False, False]), t)
    assert v.verdict.tolist() == [SEND_TO_LAB, SEND_TO_LAB]
    assert all("outside the calibration domain" in r for r in v.reason)


def test_crossed_thresholds_send_to_lab():
    # Scores that do not separate the classes at all: the below cut-off lies above the above cut-off.
    rng = np.random.default_rng(0)
    y = np.r_[np.full(100, 2000.0), np.full(100, 100.0)]
    t = ScreeningCalibration(y, rng.permutation(np.r_[np.arange(100), np.arange(100)]).astype(float)).thresholds(1000)
    if t.below_under_ppb > t.above_over_ppb:
        score = np.array([(t.below_under_ppb + t.above_over_ppb) / 2])
        assert conformal_verdicts(score, np.ones(1, bool), t).verdict.tolist() == [SEND_TO_LAB]


def test_false_compliant_rate_holds_on_exchangeable_scores():
    """Many random calibration/test draws of a noisy score: the false-compliant rate stays under α."""
    rng = np.random.default_rng(1)
    cleared_above = above_total = 0
    for _ in range(300):
        y = rng.lognormal(6.5, 1.5, 240)
        score = y * rng.lognormal(0, 0.8, 240)
        cal, test = ScreeningCalibration(y[:200], score[:200]), slice(200, None)
        t = cal.thresholds(1000)
        v = conformal_verdicts(score[test], np.ones(40, bool), t).verdict
        truly_above = y[test] > 1000
        cleared_above += int((v[truly_above] == BELOW).sum())
        above_total += int(truly_above.sum())
    assert cleared_above / above_total <= 0.05


def test_interval_rule_for_bundles_saved_before_the_engine(tmp_path):
    v = interval_verdicts(np.array([10, 900, 1200.0]), np.array([800, 1500, 3000.0]), np.ones(3, bool), 1000)
    assert v.verdict.tolist() == [BELOW, SEND_TO_LAB, ABOVE]
    assert all(r.startswith("interval rule (older model)") for r in v.reason)
    # A trust file without screening arrays (an older bundle) loads with screening None.
    X = np.random.default_rng(0).normal(size=(30, 5))
    Trust(None, DomainModel.fit(X)).save(tmp_path)
    assert Trust.load(tmp_path).screening is None
    cal = calibration(20, 20)
    Trust(None, DomainModel.fit(X), cal).save(tmp_path)
    loaded = Trust.load(tmp_path).screening
    assert np.array_equal(loaded.y_ppb, cal.y_ppb) and np.array_equal(loaded.score_ppb, cal.score_ppb)


def test_default_limit_is_the_eu_maize_limit():
    assert get_limit(DEFAULT_LIMIT).ppb == 1500 and get_limit(DEFAULT_LIMIT).label.startswith("1,500 ppb")


# --- lots -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "members,expected",
    [
        ([BELOW, BELOW], BELOW),
        ([BELOW, ABOVE, SEND_TO_LAB], ABOVE),
        ([BELOW, SEND_TO_LAB], SEND_TO_LAB),
        ([BELOW, ""], SEND_TO_LAB),  # a sample that was not scored cannot clear its lot
        ([], SEND_TO_LAB),
    ],
)
def test_lot_rule(members, expected):
    assert lot_verdict(members) == expected


def test_lot_table_counts_and_names_the_deciding_samples():
    lots = ["A", "A", "B", "B", "B", "C", None]
    ids = ["a1", "a2", "b1", "b2", "b3", "c1", "x"]
    rf = np.array([BELOW, BELOW, BELOW, ABOVE, SEND_TO_LAB, "", ABOVE], dtype=object)
    table = lot_table(lots, ids, {"rf": rf})
    assert table["lot"].tolist() == ["A", "B", "C"]  # the row without a lot is left out
    assert table["rf_lot_verdict"].tolist() == [BELOW, ABOVE, SEND_TO_LAB]
    assert table["rf_decided_by"].tolist() == ["all 2 below", "b2", "c1"]
    b = table.set_index("lot").loc["B"]
    assert (b["samples"], b["rf_below"], b["rf_send_to_lab"], b["rf_above"], b["rf_not_scored"]) == (3, 1, 1, 1, 0)
    assert table.set_index("lot").loc["C", "rf_not_scored"] == 1
    assert isinstance(table, pd.DataFrame)


def test_a_lot_column_is_read_as_text_and_is_not_the_id():
    table = read_spectra(b"LOT,0,1,2\n007,0.1,0.2,0.3\n,0.2,0.3,0.1\n007,0.3,0.1,0.2\n")
    assert table.lot_column == "LOT" and table.lots == ["007", None, "007"]
    assert table.id_column is None and table.ids == ["1", "2", "3"]
    assert not any("ignored" in w for w in table.warnings)
    table = read_spectra(b"hsi_id,lot_id,0,1\na,x,0.1,0.2\nb,y,0.2,0.1\n")
    assert (table.id_column, table.lot_column, table.lots) == ("hsi_id", "lot_id", ["x", "y"])
    assert read_spectra(b"hsi_id,0,1\na,0.1,0.2\n").lots is None


def test_page_summaries_count_verdicts_and_keep_untrusted_figures_out():
    from don_predictor.scoring.frame_views import trusted_ppb, verdict_agreement, verdict_counts

    results = pd.DataFrame(
        {
            "status": ["ok"] * 4 + ["not scored"],
            "rf_ppb": [100.0, 90_000.0, 3000.0, 800.0, np.nan],
            "rf_in_domain": pd.array([True, False, True, True, pd.NA], dtype="boolean"),
            "rf_verdict": [BELOW, SEND_TO_LAB, ABOVE, BELOW, ""],
            "tf_verdict": [BELOW, ABOVE, ABOVE, SEND_TO_LAB, ""],
        }
    )
    counts = verdict_counts(results, ["rf"]).iloc[0]
    assert (counts[BELOW], counts[SEND_TO_LAB], counts[ABOVE], counts["out_of_domain"], counts["not_scored"]) == (
        2,
        1,
        1,
        1,
        1,
    )
    assert trusted_ppb(results, "rf").tolist() == [100.0, 3000.0, 800.0]  # the out-of-domain 90,000 is left out
    assert verdict_agreement(results) == {"n_both_decided": 2, "same_verdict_share": 1.0}


def test_training_spectra_are_recognised_by_their_hash(tmp_path):
    from don_predictor.trust.bundle import spectrum_hashes

    X = np.random.default_rng(2).normal(size=(25, 6))
    trust = Trust(None, DomainModel.fit(X), None, spectrum_hashes(X))
    trust.save(tmp_path)
    loaded = Trust.load(tmp_path)
    upload = np.vstack([X[:3], X[3:5] + 1e-9])  # three training rows, two altered ones
    assert loaded.in_training_data(upload).tolist() == [True, True, True, False, False]
    assert Trust(None, DomainModel.fit(X)).in_training_data(upload) is None  # an older bundle cannot tell


def test_predict_table_uses_the_engine_and_falls_back_for_older_bundles(demo_table):
    from don_predictor.modeling.backends import make_backend
    from don_predictor.modeling.screened import ScreenedRegressor
    from don_predictor.scoring import score
    from don_predictor.scoring.frame import predict_table
    from don_predictor.trust.intervals import ConformalIntervals

    X, y = demo_table.X, demo_table.target
    backend = make_backend("rf", n_estimators=10).fit(X, y, demo_table.band_names)
    scores = backend.predict(X)  # in-sample stand-ins for out-of-fold scores: enough to exercise the wiring
    intervals = ConformalIntervals.fit(y, scores)
    model = ScreenedRegressor.of(backend, Trust(intervals, DomainModel.fit(X), ScreeningCalibration(y, scores)))
    assert score(demo_table, {"rf": model}).backends["rf"].engine == "conformal"
    results = predict_table(demo_table, {"rf": model}, 1500.0)
    assert set(results["rf_verdict"]) <= {BELOW, SEND_TO_LAB, ABOVE}
    assert not results["rf_verdict_reason"].str.startswith("interval rule").any()
    model = ScreenedRegressor.of(backend, Trust(intervals, model.trust.domain))  # a bundle saved before the engine
    assert score(demo_table, {"rf": model}).backends["rf"].engine == "interval"
    older = predict_table(demo_table, {"rf": model}, 1500.0)
    reasons = older.loc[older["rf_in_domain"].fillna(False).astype(bool), "rf_verdict_reason"]
    assert reasons.str.startswith("interval rule (older model)").all()


def test_run_metadata_says_what_produced_a_results_file():
    import json

    from don_predictor.services.run_metadata import run_metadata

    t = calibration(39, 59).thresholds(1000)
    meta = run_metadata(
        limit_key="fda-1ppm",
        limit_label=get_limit("fda-1ppm").label,
        limit_ppb=1000.0,
        risk=Risk(),
        versions={"rf": "v1", "tf": "v2"},
        data_name="lot7.csv",
        data_sha256="ab" * 32,
        thresholds={"rf": t, "tf": None},
    )
    assert meta["limit"]["ppb"] == 1000.0 and meta["risk"] == {"false_compliant_rate": 0.05, "false_suspect_rate": 0.05}
    assert meta["model_versions"] == {"rf": "v1", "tf": "v2"} and meta["input_sha256"] == "ab" * 32
    assert meta["verdicts"]["rf"]["below_when_score_under_ppb"] == 2.0
    assert meta["verdicts"]["tf"]["rule"].startswith("interval rule")
    assert json.loads(json.dumps(meta)) == meta and meta["created_utc"].endswith("+00:00")


def test_the_joint_verdict_decides_only_where_both_models_agree():
    from don_predictor.trust.screening import joint_verdict

    rf = np.array(["below", "below", "above", "above", "send_to_lab", "below", ""])
    tf = np.array(["below", "above", "above", "send_to_lab", "send_to_lab", "", ""])
    assert joint_verdict(rf, tf).tolist() == [
        "below",
        "send_to_lab",
        "above",
        "send_to_lab",
        "send_to_lab",
        "send_to_lab",  # one model could not score it: no decision from one model alone
        "",
    ]


def test_the_joint_verdict_clears_no_more_truly_above_samples_than_either_model():
    from don_predictor.trust.screening import joint_verdict

    rng = np.random.default_rng(4)
    truly_above = rng.random(2000) < 0.3
    rf = np.where(rng.random(2000) < 0.5, "below", "send_to_lab")
    tf = np.where(rng.random(2000) < 0.5, "below", "above")
    joint = joint_verdict(rf, tf)
    cleared_wrongly = {name: int(((v == "below") & truly_above).sum()) for name, v in [("rf", rf), ("tf", tf)]}
    assert int(((joint == "below") & truly_above).sum()) <= min(cleared_wrongly.values())


def test_with_beta_under_alpha_a_high_score_says_why_it_is_not_called_above():
    """α 10 % clears with 9 truly-above samples; β 5 % needs 19 to call one above: the row says so."""
    t = calibration(n_above=12, n_below=200).thresholds(1000, Risk(0.10, 0.05))
    assert t.below_under_ppb is not None and t.above_over_ppb is None
    v = conformal_verdicts(np.array([5000.0]), np.ones(1, bool), t)
    assert v.verdict.tolist() == [SEND_TO_LAB]
    assert v.reason[0] == "too few calibration samples above the limit to call it above (12; 19 needed)"
    # Too few to do either: the number quoted is what both need.
    t = calibration(n_above=5, n_below=200).thresholds(1000, Risk(0.10, 0.05))
    reason = conformal_verdicts(np.array([5000.0]), np.ones(1, bool), t).reason[0]
    assert reason == "too few calibration samples above the limit to decide (5; 19 needed)"
