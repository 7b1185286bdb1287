"""Compare model variants under the same repeated k-fold CV as `make bench-accuracy`, one line per variant.

The variants are what issue 4 asked to try (target transforms, spectral preprocessing, losses, MLP vs 1-D CNN, seed
ensembles); the winners became the backends' defaults (docs/model_card.md). Every fitted step stays inside the
folds because each variant is a backend setting run through evaluation.cross_validate.
Run: make bench-explore GROUP=tf (rf, tf or tf-ensemble), optionally ONLY=<part of a variant's name>.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from don_predictor.modeling.evaluation import cross_validate
from don_predictor.spectra.reader import read_spectra

# Each group: the backend, the settings every variant starts from (the defaults when the group was run, so the
# figures in docs/model_card.md stay reproducible after the defaults moved on), and one change per variant.
GROUPS = {
    "rf": (
        "rf",
        {"max_features": 0.3, "target_transform": "sqrt", "preprocessing": "snv"},
        {
            "default (SNV, sqrt)": {},
            "log1p target": {"target_transform": "log1p"},
            "cube-root target": {"target_transform": "cbrt"},
            "Yeo-Johnson target": {"target_transform": "yeo-johnson"},
            "raw target": {"target_transform": "none"},
            "MSC": {"preprocessing": "msc"},
            "SNV + SG 1st derivative": {"preprocessing": "snv+sg1"},
            "min_samples_leaf 3": {"min_samples_leaf": 3},
            "max_features 1.0": {"max_features": 1.0},
            "max_features 0.1": {"max_features": 0.1},
        },
    ),
    "tf": (
        "tf",
        {"ensemble_size": 1},
        {
            "default": {},
            "MLP, 5 seeds": {"ensemble_size": 5},
            "MLP, MSE loss": {"loss": "mse"},
            "MLP, MAE loss": {"loss": "mae"},
            "MLP, cube-root target": {"target_transform": "cbrt"},
            "MLP, Yeo-Johnson target": {"target_transform": "yeo-johnson"},
            "1-D CNN": {"architecture": "cnn"},
            "1-D CNN, 3 seeds": {"architecture": "cnn", "ensemble_size": 3},
        },
    ),
    # Third round: the five-member TF ensemble, looking for stability on the few extreme samples.
    "tf-ensemble": (
        "tf",
        {"ensemble_size": 5},
        {
            "default (5 seeds)": {},
            "Huber delta 3": {"huber_delta": 3.0},
            "PCA 20": {"pca_components": 20},
            "layers 64-32": {"hidden_units": [64, 32]},
        },
    ),
}
SHOWN = {"r2": "R²", "mae_ppb": "MAE", "median_ae_ppb": "medAE", "r2_log": "R² log", "roc_auc": "AUC"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/corn_hsi_dev.csv")
    parser.add_argument("--group", choices=sorted(GROUPS), default="rf")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", default="", help="run only the variants whose name contains this")
    args = parser.parse_args()
    table = read_spectra(args.data, require_target=True)
    backend, base, variants = GROUPS[args.group]
    print(f"{args.group} ({backend}, from {base}), {args.folds}x{args.repeats} CV on {args.data}: mean over repeats")
    print(f"{'variant':28s} " + " ".join(f"{label:>8s}" for label in SHOWN.values()) + "  seconds")
    for name, change in variants.items():
        if args.only.lower() not in name.lower():
            continue
        started = time.perf_counter()
        result = cross_validate(
            backend,
            table.X,
            table.target,
            table.band_names,
            folds=args.folds,
            repeats=args.repeats,
            params={**base, **change},
        )
        summary = result.summary()
        cells = " ".join(
            f"{summary[key]['mean']:8.3f}" if key in ("r2", "r2_log", "roc_auc") else f"{summary[key]['mean']:8,.0f}"
            for key in SHOWN
        )
        print(f"{name:28s} {cells}  {time.perf_counter() - started:7.0f}", flush=True)


if __name__ == "__main__":
    main()
