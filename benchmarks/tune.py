"""Hyperparameter search nested inside cross-validation, on the real dev data.

For every outer fold, each candidate setting is scored by an inner 3-fold CV on that fold's training rows only; the
winner is refitted on those rows and scored on the outer test fold, which never took part in the choice. Prints the
honest outer metrics of "tune, then fit" and how often each setting won. Run: make bench-tune (BACKEND=rf|tf).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from don_predictor.backends import make_backend
from don_predictor.evaluation import CVResult, format_summary_table, regression_metrics
from don_predictor.spectra import read_spectra

CANDIDATES = {
    "rf": [
        {"max_features": mf, "min_samples_leaf": leaf, "target_transform": target, "n_estimators": 150}
        for mf in (0.1, 0.3, 1.0)
        for leaf in (1, 4)
        for target in ("sqrt", "log1p")
    ],
    "tf": [
        # single networks, as when this search chose the TF layout (an ensemble would make it five times slower)
        {"pca_components": k, "hidden_units": units, "l2": l2, "ensemble_size": 1}
        for k in (10, 20, 40)
        for units in ([16], [32, 16])
        for l2 in (1e-3, 1e-2)
    ],
}


def inner_score(backend: str, params: dict, X: np.ndarray, y: np.ndarray, bands: list[str], seed: int) -> float:
    """Mean absolute error in ppb of an inner 3-fold CV: the quantity a lab cares about."""
    errors = []
    for train, test in KFold(3, shuffle=True, random_state=seed).split(X):
        model = make_backend(backend, **params).fit(X[train], y[train], bands)
        errors.append(np.abs(model.predict(X[test]) - y[test]).mean())
    return float(np.mean(errors))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/corn_hsi_dev.csv")
    parser.add_argument("--backend", choices=sorted(CANDIDATES), default="rf")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    table = read_spectra(args.data, require_target=True)
    X, y, bands = table.X, table.target, table.band_names
    candidates = CANDIDATES[args.backend]
    predictions = np.zeros((args.repeats, len(y)))
    fold_ids = np.zeros((args.repeats, len(y)), dtype=int)
    per_repeat, wins = [], collections.Counter()
    started = time.perf_counter()
    for repeat in range(args.repeats):
        for fold, (train, test) in enumerate(KFold(args.folds, shuffle=True, random_state=repeat).split(X)):
            scores = [inner_score(args.backend, c, X[train], y[train], bands, seed=fold) for c in candidates]
            best = candidates[int(np.argmin(scores))]
            wins[json.dumps(best, sort_keys=True)] += 1
            model = make_backend(args.backend, **best).fit(X[train], y[train], bands)
            predictions[repeat, test] = model.predict(X[test])
            fold_ids[repeat, test] = fold
            print(f"repeat {repeat + 1} fold {fold + 1}: chose {best}", file=sys.stderr, flush=True)
        per_repeat.append(regression_metrics(y, predictions[repeat]))
    result = CVResult(f"{args.backend} tuned", args.folds, args.repeats, per_repeat, predictions, fold_ids)
    print(
        f"nested CV ({args.folds}x{args.repeats} outer, 3-fold inner, {len(candidates)} candidates) "
        f"took {time.perf_counter() - started:.0f} s"
    )
    print(format_summary_table([result]))
    print("settings chosen (count over outer folds):")
    for setting, count in wins.most_common():
        print(f"  {count:2d}  {setting}")


if __name__ == "__main__":
    main()
