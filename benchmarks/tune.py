"""Hyperparameter search nested inside cross-validation, on the real dev data.

For every outer fold, each candidate setting is scored by an inner 3-fold CV on that fold's training rows only
(GridSearchCV, inner folds shuffled with seed 0); the winner is refitted on those rows and scored on the
outer test fold, which never took part in the choice. The outer CV is evaluation's own
(repeated_cross_validation). Prints the honest outer metrics of "tune, then fit" and how often each setting won.
Run: make bench-tune (BACKEND=rf|tf).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

from sklearn.model_selection import GridSearchCV, KFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from don_predictor.modeling.backends import make_backend
from don_predictor.modeling.evaluation import OutOfFold, format_summary_table, repeated_cross_validation
from don_predictor.spectra.reader import read_spectra

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


def tuned(backend: str, candidates: list[dict]) -> GridSearchCV:
    """A search over the candidates by the mean absolute error in ppb of an inner 3-fold CV (the quantity a lab
    cares about), refitted with the winner."""
    return GridSearchCV(
        make_backend(backend),
        [{key: [value] for key, value in candidate.items()} for candidate in candidates],
        cv=KFold(3, shuffle=True, random_state=0),
        scoring="neg_mean_absolute_error",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/corn_hsi_dev.csv")
    parser.add_argument("--backend", choices=sorted(CANDIDATES), default="rf")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    table = read_spectra(args.data, require_target=True)
    candidates = CANDIDATES[args.backend]
    wins = collections.Counter()

    def count_wins(repeat: int, run: OutOfFold) -> None:
        for fold, search in enumerate(run.models):
            wins[json.dumps(search.best_params_, sort_keys=True)] += 1
            print(f"repeat {repeat + 1} fold {fold + 1}: chose {search.best_params_}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    result = repeated_cross_validation(
        tuned(args.backend, candidates),
        table.X,
        table.target,
        f"{args.backend} tuned",
        folds=args.folds,
        repeats=args.repeats,
        on_repeat=count_wins,
    )
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
