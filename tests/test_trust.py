"""Prediction intervals, the applicability domain and verdicts against legal limits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import KFold

from don_predictor.modeling.evaluation import cross_validate
from don_predictor.spectra.reader import read_spectra
from don_predictor.trust.bundle import Trust
from don_predictor.trust.domain import DomainModel
from don_predictor.trust.intervals import ConformalIntervals
from don_predictor.trust.limits import LIMITS, get_limit, verdicts

# --- verdicts -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", LIMITS, ids=[limit.key for limit in LIMITS])
def test_verdicts_at_and_around_each_limit(limit):
    L = limit.ppb
    low = np.array([0.5 * L, 0.5 * L, L, 1.01 * L, 1.01 * L, 0.2 * L, 0.9 * L, np.nan])
    high = np.array([0.99 * L, L, 2 * L, 3 * L, 3 * L, 5 * L, 0.95 * L, np.nan])
    in_domain = np.array([True, True, True, True, False, True, False, True])
    assert verdicts(low, high, in_domain, L).tolist() == [
        "below",  # the whole interval under the limit
        "send_to_lab",  # touches the limit
        "send_to_lab",  # starts at the limit
        "above",  # the whole interval over the limit
        "send_to_lab",  # over the limit but out of domain: not trusted
        "send_to_lab",  # straddles
        "send_to_lab",  # below, but out of domain
        "",  # not scored
    ]


def test_limits_table_has_the_regulated_values_with_sources():
    values = {limit.key: limit.ppb for limit in LIMITS}
    assert values["fda-1ppm"] == 1000 and values["fda-5ppm"] == 5000 and values["fda-10ppm"] == 10000
    assert values["eu-unprocessed-maize"] == 1500 and values["eu-milling-products"] == 600
    assert values["eu-feed-pigs"] == 900 and values["eu-feed-maize-byproducts"] == 12000
    assert all(limit.source and limit.name for limit in LIMITS)
    with pytest.raises(ValueError, match="unknown limit 'x'"):
        get_limit("x")


# --- intervals ------------------------------------------------------------------------------------------------------


def test_conformal_quantile_is_the_finite_sample_rank():
    y = np.full(9, 100.0)
    oof = np.square(10.0 + np.arange(1, 10))  # sqrt residuals 1 .. 9
    intervals = ConformalIntervals.fit(y, oof, level=0.8)
    assert intervals.half_width_sqrt == pytest.approx(8.0)  # ceil(10 * 0.8) = 8th smallest
    low, high = intervals.interval(np.array([0.0, 400.0]))
    assert low.tolist() == [0.0, 144.0] and high.tolist() == [64.0, 784.0]  # (20 ± 8)²


def test_scaled_intervals_follow_the_difficulty():
    y = np.full(9, 100.0)
    oof = np.square(10.0 + np.arange(1, 10))  # sqrt residuals 1 .. 9
    difficulty = np.arange(1, 10, dtype=float)  # every scaled residual is 1
    intervals = ConformalIntervals.fit(y, oof, level=0.8, difficulty=difficulty)
    assert intervals.scaled and intervals.half_width_sqrt == pytest.approx(1.0)
    low, high = intervals.interval(np.array([400.0, 400.0]), np.array([1.0, 5.0]))
    assert high.tolist() == [441.0, 625.0] and low.tolist() == [361.0, 225.0]  # (20 ± 1)², (20 ± 5)²


# Conformal coverage holds for any model; smaller settings than the defaults keep the suite short (TF: 2 members,
# 80 epochs: coverage 0.905 on the dev data, about half the time of 3 members and 150 epochs).
@pytest.mark.parametrize("backend,params", [("rf", {"n_estimators": 100}), ("tf", {"ensemble_size": 2, "epochs": 80})])
def test_out_of_fold_coverage_of_90_percent_intervals_on_real_data(real_data, backend, params):
    table = read_spectra(real_data, require_target=True)
    result = cross_validate(backend, table.X, table.target, table.band_names, folds=5, repeats=1, params=params)
    coverage = result.interval_coverage(table.target, level=0.90)
    print(f"{backend}: coverage {coverage['coverage']:.3f}, median width {coverage['median_width_ppb']:,.0f} ppb")
    assert 0.85 <= coverage["coverage"] <= 0.95


# --- applicability domain -------------------------------------------------------------------------------------------


def distortions(X: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    bands = np.linspace(0.0, 1.0, X.shape[1])
    return {
        "scaled x1.3": X * 1.3,
        "strong noise": X + rng.normal(0.0, 0.05, X.shape),
        "clipped": np.minimum(X, np.median(X, axis=1, keepdims=True)),
        "saturated": np.maximum(X, np.quantile(X, 0.3, axis=1, keepdims=True)),
        "another shape": 0.3 + 0.5 * np.sin(np.pi * bands) + rng.normal(0.0, 0.003, X.shape),
        "offset +0.1": X + 0.1,
        "offset -0.1": X - 0.1,
    }


def test_applicability_domain_flags_distorted_spectra_not_genuine_ones(real_data):
    X = read_spectra(real_data).X
    rng = np.random.default_rng(0)
    flagged = {name: [] for name in distortions(X[:2], rng)}
    genuine = []
    for train, test in KFold(5, shuffle=True, random_state=1).split(X):
        domain = DomainModel.fit(X[train])
        genuine.append(~domain.in_domain(X[test])[0])
        for name, distorted in distortions(X[test], rng).items():
            flagged[name].append(~domain.in_domain(distorted)[0])
    genuine_rate = np.concatenate(genuine).mean()
    rates = {name: np.concatenate(v).mean() for name, v in flagged.items()}
    print(f"genuine held-out flagged: {genuine_rate:.3f}; distorted flagged: {rates}")
    assert genuine_rate <= 0.05
    for name, rate in rates.items():
        # -0.1 is not in issue 4's list; reported in docs/model_card.md, it sits just below the others
        assert rate >= (0.9 if name == "offset -0.1" else 0.95), name


def test_baseline_statistic_measures_a_flat_offset_in_standard_deviations(demo_table):
    domain = DomainModel.fit(demo_table.X)
    X = demo_table.X[:50]
    base = domain.statistics(X)[2]
    up, down = domain.statistics(X + 0.05)[2] - base, domain.statistics(X - 0.05)[2] - base
    # linear in the offset: the same shift for every spectrum, opposite for the opposite sign
    assert np.ptp(up) == pytest.approx(0.0, abs=1e-9) and up[0] == pytest.approx(-down[0])
    # an offset that moves the statistic by twice its limit is flagged on every spectrum, in both directions...
    offset = 2 * domain.baseline_limit / abs(up[0] / 0.05)
    assert np.all(~domain.in_domain(X + offset)[0]) and np.all(~domain.in_domain(X - offset)[0])
    # ...while the held-out calibration keeps most genuine spectra inside
    assert np.mean(domain.in_domain(demo_table.X)[0]) >= 0.9


def test_trust_round_trips_without_pickle(tmp_path, demo_table):
    trust = Trust(ConformalIntervals(0.9, 7.0, scaled=True), DomainModel.fit(demo_table.X[:200]))
    trust.save(tmp_path)
    loaded = Trust.load(tmp_path)
    assert loaded.intervals == trust.intervals
    np.testing.assert_array_equal(loaded.domain.components, trust.domain.components)
    assert (
        loaded.domain.in_domain(demo_table.X[200:220])[0].tolist()
        == trust.domain.in_domain(demo_table.X[200:220])[0].tolist()
    )


def test_domain_limits_spend_the_false_flag_budget_and_no_more():
    from don_predictor.trust.domain import DOMAIN_FALSE_FLAG_RATE, _limits

    held_out = np.abs(np.random.default_rng(3).standard_normal((2_000, 3)))
    t2_limit, q_limit, baseline_limit = _limits(held_out)
    flagged = (held_out[:, 0] > t2_limit) | (held_out[:, 1] > q_limit) | (held_out[:, 2] > baseline_limit)
    assert DOMAIN_FALSE_FLAG_RATE - 0.002 <= flagged.mean() <= DOMAIN_FALSE_FLAG_RATE
    # T² and Q keep their fixed high percentile; the baseline takes the rest of the budget
    assert np.mean(held_out[:, 0] > t2_limit) <= 0.006 and np.mean(held_out[:, 2] > baseline_limit) > 0.02
