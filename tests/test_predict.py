"""The results frame: every row in order with a status; trust columns; the safe CSV download."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from don_predictor.scoring.frame import predict_table
from don_predictor.services.compare import add_differences, agreement
from don_predictor.services.formula_guard import neutralise_formulas
from don_predictor.services.results_csv import results_csv
from don_predictor.spectra.reader import read_spectra


def test_every_row_comes_back_in_order_with_trust_columns(trained_registry, demo_upload):
    lines = demo_upload.read_text().splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0] + ",oops"
    table = read_spectra(("\n".join(lines) + "\n").encode())
    models = {b: trained_registry.load(b) for b in ("rf", "tf")}
    results = predict_table(table, models, limit_ppb=1000)
    assert results["hsi_id"].tolist() == table.ids
    assert results["status"].iloc[3] == "not scored: column '447': not a number"
    for b in ("rf", "tf"):
        scored = results[f"{b}_ppb"].notna()
        assert scored.sum() == 49 and not scored.iloc[3]
        ok = results[scored]
        assert (ok[f"{b}_low_ppb"] <= ok[f"{b}_ppb"]).all() and (ok[f"{b}_ppb"] <= ok[f"{b}_high_ppb"]).all()
        assert results[f"{b}_verdict"].iloc[3] == "" and pd.isna(results[f"{b}_in_domain"].iloc[3])
        # The same verdict rule, recomputed from the columns.
        below = ok[f"{b}_in_domain"].astype(bool) & (ok[f"{b}_high_ppb"] < 1000)
        assert (ok.loc[below, f"{b}_verdict"] == "below").all()


def test_csv_neutralises_formulas_and_writes_lowercase_flags():
    frame = pd.DataFrame(
        {
            "hsi_id": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "plain"],
            "status": ["ok"] * 5,
            "rf_ppb": [1.0, -2.0, 3.0, 4.0, 5.0],
            "rf_in_domain": pd.array([True, False, True, pd.NA, True], dtype="boolean"),
        }
    )
    assert neutralise_formulas(frame)["hsi_id"].tolist() == ['\'=HYPERLINK("x")', "'+1", "'-2", "'@SUM(A1)", "plain"]
    written = pd.read_csv(io.BytesIO(results_csv(frame)), keep_default_na=False)
    assert written["rf_in_domain"].tolist() == ["true", "false", "true", "", "true"]
    assert written["rf_ppb"].tolist() == [1.0, -2.0, 3.0, 4.0, 5.0]  # numbers are left alone


def test_differences_and_agreement():
    results = pd.DataFrame({"rf_ppb": [0.0, 500.0, 2000.0, np.nan], "tf_ppb": [10.0, 1500.0, 3000.0, 5.0]})
    compared = add_differences(results)
    assert compared["tf_minus_rf_ppb"].tolist()[:3] == [10.0, 1000.0, 1000.0]
    assert np.isnan(compared["tf_over_rf"].iloc[0]) and compared["tf_over_rf"].iloc[1] == 3.0
    stats = agreement(results["rf_ppb"].to_numpy(), results["tf_ppb"].to_numpy(), limit_ppb=1000)
    assert stats["n"] == 3 and stats["spearman"] == 1.0
    assert stats["same_side_share"] == 2 / 3  # 500 vs 1500 straddle the limit


def test_another_limit_re_decides_from_the_cached_scores_without_scoring_again(
    trained_registry, demo_upload, monkeypatch
):
    import hashlib

    from don_predictor.modeling.screened import ScreenedRegressor
    from don_predictor.scoring import decide
    from don_predictor.scoring.frame import results_frame
    from don_predictor.ui import score_cache

    data = demo_upload.read_bytes()
    versions = tuple((b, trained_registry.active_version(b)) for b in ("rf", "tf"))
    table = read_spectra(data)
    loaded = {b: trained_registry.load(b) for b in ("rf", "tf")}
    calls = []
    original = ScreenedRegressor.predict_with_trust
    monkeypatch.setattr(
        ScreenedRegressor, "predict_with_trust", lambda self, X: calls.append(self.name) or original(self, X)
    )
    score_cache.SCORE_CACHE.clear()
    root, sha256 = str(trained_registry.root), hashlib.sha256(data).hexdigest()

    def page_results(limit: float) -> pd.DataFrame:  # the page: the kept run, decided at the limit
        run = score_cache.scored_run(table, sha256, root, versions, loaded)
        return results_frame(run, decide(run, limit))

    at_1ppm = page_results(1000)
    at_5ppm = page_results(5000)
    assert sorted(calls) == ["rf", "tf"]  # each model ran once, for both limits
    calls.clear()
    for limit, shown in ((1000, at_1ppm), (5000, at_5ppm)):
        pd.testing.assert_frame_equal(shown, predict_table(table, loaded, limit_ppb=limit))
    # The limit changed the decisions, not the predictions.
    assert (at_1ppm["rf_verdict"] != at_5ppm["rf_verdict"]).any()
    pd.testing.assert_series_equal(at_1ppm["rf_ppb"], at_5ppm["rf_ppb"])


def test_a_column_mixing_numbers_and_text_is_still_written():
    """pyarrow cannot type such a column (a history's extra field can be one); the CSV falls back to pandas."""
    frame = pd.DataFrame({"hsi_id": ["a", "b"], "status": ["ok", "ok"], "note": [1.5, "high"]})
    written = pd.read_csv(io.BytesIO(results_csv(frame)))
    assert written["note"].astype(str).tolist() == ["1.5", "high"]
