"""Screening verdicts validated by repeated nested cross-validation on the real dev data (docs/validation_report.md).

For every repeat and every outer fold, exactly what the app does is replayed on the outer training rows only:
an inner k-fold CV gives the calibration data's out-of-fold scores, a model fitted on all outer training rows scores
the outer test fold, and the screening engine's thresholds (fitted on the inner scores alone) give each test sample
its verdict. The domain model is fitted on the outer training spectra too, so out-of-domain test spectra are
`send_to_lab` as in the app. Counted on the outer test folds, pooled over folds and repeats: decided share,
false-compliant rate (truly above, called below) and false-suspect rate (truly below, called above), with
Clopper–Pearson 95 % intervals.

Scores compared (the engine is the same; only the number it thresholds differs):
- `regression`: the backend's ppb prediction (what the app uses: works for any limit typed at prediction time);
- `scaled`: (sqrt(prediction) - sqrt(limit)) / difficulty, the backend's own uncertainty (tree or member spread);
- `classifier`: a per-limit logistic regression on SNV + standardised bands + 20 principal components, its
  probability of "above the limit" (must be trained per limit in advance);
- `interval rule`: the verdicts before the engine (whole 90 % interval on one side), for comparison.

Run: make bench-screening (BACKENDS="rf tf", REPEATS=3). The dev data is read from ../shared, never copied.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import beta as beta_dist
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from don_predictor.modeling.backends import make_backend
from don_predictor.modeling.evaluation import out_of_fold
from don_predictor.modeling.preprocessing import make_preprocessor
from don_predictor.spectra.reader import read_spectra
from don_predictor.trust.domain import DomainModel
from don_predictor.trust.intervals import ConformalIntervals
from don_predictor.trust.screening import (
    ABOVE,
    BELOW,
    Risk,
    ScreeningCalibration,
    conformal_verdicts,
    interval_verdicts,
    positives_needed,
)

LIMITS_PPB = {"1 ppm": 1000.0, "EU maize 1,500": 1500.0, "5 ppm": 5000.0, "10 ppm": 10000.0}


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta_dist.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta_dist.ppf(1 - a, k + 1, n - k))
    return low, high


def classifier() -> object:
    return make_pipeline(
        make_preprocessor("snv"), StandardScaler(), PCA(20, random_state=0), LogisticRegression(C=1.0, max_iter=2000)
    )


def has_both_classes(labels: np.ndarray) -> bool:
    """At least two samples on each side of the limit: what the logistic regression needs to fit."""
    return labels.sum() >= 2 and (~labels).sum() >= 2


def probability_above(model, X: np.ndarray) -> tuple[np.ndarray, None]:
    return model.predict_proba(X)[:, 1], None


def classifier_scores(X_train, y_train, X_test, limit: float) -> np.ndarray | None:
    labels = y_train > limit
    if not has_both_classes(labels):
        return None
    return classifier().fit(X_train, labels).predict_proba(X_test)[:, 1]


def classifier_out_of_fold(X: np.ndarray, y: np.ndarray, cv: KFold, limit: float) -> np.ndarray | None:
    """The classifier's out-of-fold probabilities, or None when a training fold lacks one side of the limit."""
    labels = y > limit
    if not all(has_both_classes(labels[train]) for train, _ in cv.split(X)):
        return None
    return out_of_fold(classifier(), X, labels, cv, score=probability_above).scores


class Tally:
    """Counts per (score variant, limit), pooled over outer folds and repeats."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.calibration_positives: dict[str, list[int]] = defaultdict(list)
        self.r2_ppb: dict[str, list[float]] = defaultdict(list)  # per backend, one per repeat (outer test folds)

    def add(self, variant: str, limit_name: str, verdict: np.ndarray, y_test: np.ndarray, limit: float) -> None:
        c = self.counts[(variant, limit_name)]
        above = y_test > limit
        c["n"] += len(y_test)
        c["below"] += int((verdict == BELOW).sum())
        c["above"] += int((verdict == ABOVE).sum())
        c["truly_above"] += int(above.sum())
        c["truly_below"] += int((~above).sum())
        c["false_compliant"] += int((above & (verdict == BELOW)).sum())
        c["false_suspect"] += int((~above & (verdict == ABOVE)).sum())
        c["right_above"] += int((above & (verdict == ABOVE)).sum())

    def rows(self) -> list[dict]:
        out = []
        for (variant, limit_name), c in self.counts.items():
            decided = c["below"] + c["above"]
            fc_low, fc_high = clopper_pearson(c["false_compliant"], c["truly_above"])
            fs_low, fs_high = clopper_pearson(c["false_suspect"], c["truly_below"])
            out.append(
                {
                    "variant": variant,
                    "limit": limit_name,
                    **c,
                    "decided_share": decided / c["n"],
                    "below_share": c["below"] / c["n"],
                    "false_compliant_rate": c["false_compliant"] / c["truly_above"] if c["truly_above"] else np.nan,
                    "false_compliant_ci": [fc_low, fc_high],
                    "false_suspect_rate": c["false_suspect"] / c["truly_below"] if c["truly_below"] else np.nan,
                    "false_suspect_ci": [fs_low, fs_high],
                    # Of the samples called above, the share truly above: what a rejection is worth.
                    "above_right_share": c["right_above"] / c["above"] if c["above"] else np.nan,
                }
            )
        return out


def run(args: argparse.Namespace, on_repeat=None) -> dict:
    table = read_spectra(args.data, require_target=True)
    usable = table.trainable
    X, y = table.X[usable], table.target[usable]
    risk = Risk(args.alpha, args.beta)
    tally = Tally()
    started = time.perf_counter()
    for backend in args.backends:
        with_classifier = backend == args.backends[0]  # the classifier is backend-free: run it alongside the first
        params = {"n_estimators": args.trees} if backend == "rf" and args.trees else {}
        if backend == "tf" and args.members:
            params["ensemble_size"] = args.members
        params |= dict(args.param)
        estimator = make_backend(backend, **params)
        for repeat in range(args.repeats):
            outer_cv = KFold(args.folds, shuffle=True, random_state=1000 + repeat)
            # Each outer test fold scored by the model fitted on the other folds, as the app's model would score it.
            outer = out_of_fold(estimator, X, y, outer_cv)
            for fold, (train, test) in enumerate(outer_cv.split(X)):
                # Inner CV on the outer training rows only: the calibration scores the bundle would store.
                inner_cv = KFold(args.inner_folds, shuffle=True, random_state=repeat)
                inner = out_of_fold(estimator, X[train], y[train], inner_cv)
                inner_scores = inner.scores
                has_difficulty = outer.difficulty is not None
                inner_difficulty = inner.difficulty if has_difficulty else np.ones(len(train))
                test_scores = outer.scores[test]
                test_difficulty = outer.difficulty[test] if has_difficulty else None
                in_domain = DomainModel.fit(X[train]).in_domain(X[test])[0]
                intervals = ConformalIntervals.fit(
                    y[train], inner_scores, 0.90, inner_difficulty if has_difficulty else None
                )
                low, high = intervals.interval(test_scores, test_difficulty)
                for name, limit in LIMITS_PPB.items():
                    cal = ScreeningCalibration(y[train], inner_scores)
                    tally.calibration_positives[name].append(int((y[train] > limit).sum()))
                    v = conformal_verdicts(test_scores, in_domain, cal.thresholds(limit, risk)).verdict
                    tally.add(f"{backend} regression", name, v, y[test], limit)
                    v = interval_verdicts(low, high, in_domain, limit).verdict
                    tally.add(f"{backend} interval rule", name, v, y[test], limit)
                    if has_difficulty:
                        root = np.sqrt(limit)
                        cal_scaled = (np.sqrt(inner_scores) - root) / inner_difficulty
                        test_scaled = (np.sqrt(test_scores) - root) / test_difficulty
                        cal = ScreeningCalibration(y[train], cal_scaled)
                        # Thresholds on a unitless score; ScreeningCalibration compares y with the limit in ppb.
                        t = cal.thresholds(limit, risk, limit_score=0.0)  # 0 on this score is "at the limit"
                        v = conformal_verdicts(test_scaled, in_domain, t).verdict
                        tally.add(f"{backend} scaled", name, v, y[test], limit)
                    if not with_classifier:
                        continue
                    p = classifier_scores(X[train], y[train], X[test], limit)
                    inner_p = classifier_out_of_fold(X[train], y[train], inner_cv, limit)
                    if p is not None and inner_p is not None:
                        cal = ScreeningCalibration(y[train], inner_p)
                        t = cal.thresholds(limit, risk, limit_score=0.5)  # a probability of "above" of one half
                        v = conformal_verdicts(p, in_domain, t).verdict
                        tally.add("logistic classifier", name, v, y[test], limit)
                print(
                    f"{backend}: repeat {repeat + 1}/{args.repeats} fold {fold + 1}/{args.folds} done "
                    f"({time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            tally.r2_ppb[backend].append(float(r2_score(y, outer.scores)))
            if on_repeat is not None:  # the figures so far, so a long run that is stopped still leaves a result
                on_repeat(summarise(args, y, risk, tally, time.perf_counter() - started, repeat + 1))
    return summarise(args, y, risk, tally, time.perf_counter() - started, args.repeats)


def summarise(args: argparse.Namespace, y: np.ndarray, risk: Risk, tally: Tally, seconds: float, repeats: int) -> dict:
    needed = positives_needed(risk.false_compliant)
    positives = {
        name: {"min": min(v), "median": float(np.median(v)), "max": max(v), "needed": needed}
        for name, v in tally.calibration_positives.items()
    }
    dev = {name: int((y > limit).sum()) for name, limit in LIMITS_PPB.items()}
    return {
        "data_rows": len(y),
        "truly_above_in_dev_data": dev,
        "folds": args.folds,
        "inner_folds": args.inner_folds,
        "repeats": repeats,
        "backends": args.backends,
        "params": {"trees": args.trees, "members": args.members, **dict(args.param)},
        "risk": {"alpha": risk.false_compliant, "beta": risk.false_suspect},
        "calibration_positives_per_outer_fold": positives,
        "r2_ppb_per_repeat": dict(tally.r2_ppb),
        "seconds": round(seconds, 1),
        "rows": tally.rows(),
    }


def format_report(result: dict) -> str:
    lines = [
        f"{result['data_rows']} rows; {result['folds']}-fold outer x {result['repeats']} repeats, "
        f"{result['inner_folds']}-fold inner; alpha {result['risk']['alpha']:.0%}, beta {result['risk']['beta']:.0%}; "
        f"{result['seconds']:.0f} s",
        "",
        "| score | limit | decided | below | false-compliant (95 % CI) | false-suspect (95 % CI) | above calls right |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = list(LIMITS_PPB)
    for row in sorted(result["rows"], key=lambda r: (r["variant"], order.index(r["limit"]))):
        fc_low, fc_high = row["false_compliant_ci"]
        fs_low, fs_high = row["false_suspect_ci"]
        lines.append(
            f"| {row['variant']} | {row['limit']} | {row['decided_share']:.1%} | {row['below_share']:.1%} | "
            f"{row['false_compliant']}/{row['truly_above']} = {row['false_compliant_rate']:.1%} "
            f"({fc_low:.1%}–{fc_high:.1%}) | {row['false_suspect']}/{row['truly_below']} = "
            f"{row['false_suspect_rate']:.1%} ({fs_low:.1%}–{fs_high:.1%}) | {_right(row)} |"
        )
    for backend, values in result.get("r2_ppb_per_repeat", {}).items():
        lines.append(
            f"\n{backend}: R² in ppb on the outer test folds, mean over repeats {np.mean(values):.3f} "
            f"(each repeat: {', '.join(f'{v:.3f}' for v in values)})"
        )
    lines += ["", "| limit | truly above in the dev data | per outer training set (min–max) | needed at alpha |"]
    lines += ["| --- | --- | --- | --- |"]
    for name in order:
        p = result["calibration_positives_per_outer_fold"].get(name)
        if p:
            dev = result["truly_above_in_dev_data"][name]
            lines.append(f"| {name} | {dev} | {p['min']}–{p['max']} | {p['needed']} |")
    return "\n".join(lines)


def _right(row: dict) -> str:
    """Called above and truly above, over called above: "—" when nothing was called above."""
    if not row["above"]:
        return "—"
    return f"{row['right_above']}/{row['above']} = {row['right_above'] / row['above']:.0%}"


def parse_param(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as JSON when it is JSON (numbers, lists, true), else as a string."""
    key, _, value = text.partition("=")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/corn_hsi_dev.csv")
    parser.add_argument("--backends", nargs="+", default=["rf", "tf"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--inner-folds", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--beta", type=float, default=0.05)
    parser.add_argument("--trees", type=int, default=0, help="RF trees (default: the backend's default)")
    parser.add_argument("--members", type=int, default=0, help="TF ensemble members (default: the backend's)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=parse_param,
        metavar="KEY=VALUE",
        help="a backend parameter for a model variant, e.g. target_transform=none or hidden_units=[64,32] (repeatable)",
    )
    parser.add_argument("--json", help="also write the raw figures here (after every repeat)")
    args = parser.parse_args()

    def save(result: dict) -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1, default=float))

    result = run(args, on_repeat=save)
    save(result)
    print(format_report(result))


if __name__ == "__main__":
    main()
