"""The results widgets that decide what a page shows as a headline, run in Streamlit's AppTest on results built by
hand: a prediction the model does not trust is never shown as a plain number."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import as_read
from streamlit.testing.v1 import AppTest

from don_predictor.scoring.frame_views import out_of_domain_rows, trusted_rows, untrusted_as_nan


def hand_results() -> pd.DataFrame:
    """Three rows: trusted, outside the domain, not scored."""
    return pd.DataFrame(
        {
            "hsi_id": ["a", "b", "c"],
            "status": ["ok", "ok", "row 3, column '7': not a number"],
            "rf_ppb": [800.0, 15558.0, np.nan],
            "rf_low_ppb": [300.0, 3137.0, np.nan],
            "rf_high_ppb": [1900.0, 37425.0, np.nan],
            "rf_in_domain": pd.array([True, False, pd.NA], dtype="boolean"),
            "rf_verdict": ["below", "send_to_lab", ""],
            "rf_verdict_reason": ["score under 1,052 ppb", "outside the calibration domain: not trusted", ""],
        }
    )


def test_untrusted_predictions_are_left_out_of_figures():
    results = hand_results()
    assert trusted_rows(results, "rf").tolist() == [True, False, False]
    np.testing.assert_array_equal(untrusted_as_nan(results, "rf"), [800.0, np.nan, np.nan])
    assert results["rf_ppb"].iloc[1] == 15558.0  # the results themselves keep every prediction
    # Only the flagged spectrum is out of domain: the row not scored is "not scored", not "not trusted".
    assert out_of_domain_rows(results, "rf").tolist() == [False, True, False]
    assert out_of_domain_rows(results.drop(columns="rf_in_domain"), "rf").tolist() == [False, False, False]


def _one_sample(row: int) -> None:
    from don_predictor.ui.results import sample_call
    from tests.test_result_widgets import hand_results

    sample_call(hand_results(), "rf", row, "RandomForest")


def _sample_app(row: int) -> AppTest:
    at = AppTest.from_function(_one_sample, args=(row,), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_one_sample_shows_a_trusted_prediction_with_its_interval_and_verdict():
    at = _sample_app(0)
    assert at.metric[0].value == "800 ppb"
    assert "90 % interval 300–1,900 ppb" in at.caption[0].value and "**below**" in at.caption[0].value


def test_one_sample_outside_the_domain_is_not_trusted_not_a_headline_number():
    at = _sample_app(1)
    assert at.metric[0].value == "not trusted"
    assert "15,558 ppb is not trusted" in at.caption[0].value and "**send_to_lab**" in at.caption[0].value


def test_one_sample_that_was_not_scored_says_why_and_what_to_do():
    at = _sample_app(2)
    assert at.metric[0].value == "not scored"
    assert as_read(at.caption[0].value).startswith("row 3, column '7': not a number")


def _summary() -> None:
    from don_predictor.trust.limits import get_limit
    from don_predictor.ui.results import verdict_summary
    from tests.test_result_widgets import hand_results

    verdict_summary(hand_results(), ["rf"], get_limit("1500"), {"rf": None})


def test_the_verdict_counts_give_every_row_including_the_ones_not_scored():
    at = AppTest.from_function(_summary, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    counts = {m.label: int(m.value) for m in at.metric}
    # The counts add up to the rows (a new user saw 33 + 10 + 7 + 1 = 51 of 50): outside the domain is part of
    # "send to lab", said under the counts.
    assert counts == {"below": 1, "send to lab": 1, "above": 0, "not scored": 1}
    assert sum(counts.values()) == 3
    assert any("Of the 1 sent to the lab, 1 lie outside the calibration domain" in c.value for c in at.caption)


def test_the_lot_table_reads_without_a_key():
    from don_predictor.scoring.frame_views import lot_summary, lot_table
    from don_predictor.ui.results import readable_lots

    verdicts = {"rf": np.array(["below", "above", "send_to_lab", "below"], dtype=object)}
    lots = lot_table(["A", "A", "B", "C"], ["s1", "s2", "s3", "s4"], verdicts)
    assert lot_summary(lots, "rf") == "3 lots: 1 below, 1 send to lab, 1 above"
    shown = readable_lots(lots)
    assert list(shown.columns[:4]) == ["lot", "samples", "RF lot verdict", "RF below"]
    assert "RF send to lab" in shown.columns and "RF decided by" in shown.columns
    assert shown["RF lot verdict"].tolist() == ["above", "send_to_lab", "below"]
