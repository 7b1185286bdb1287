"""PLS regression: the chemometrician's first model, kept as the baseline that RF and TF must beat.

Used by `evaluate` and `make bench-accuracy`; the app does not serve it. The number of latent variables is chosen by
an inner 5-fold search on the training rows only, so it stays honest inside an outer CV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from don_predictor.modeling.backends.base import Backend, ProgressCallback
from don_predictor.modeling.preprocessing import make_preprocessor
from don_predictor.store.safe_io import dump_sklearn, load_sklearn

MODEL_FILE = "model.skops"


class PLSBackend(Backend):
    name = "pls"
    label = "PLS baseline"

    def __init__(
        self,
        components: tuple[int, ...] = (2, 4, 6, 8, 10, 15),  # latent variables the inner search tries
        preprocessing: str = "snv",
        target_transform: str = "sqrt",
        seed: int = 0,
    ):
        self.components = components
        self.preprocessing = preprocessing
        self.target_transform = target_transform
        self.seed = seed

    def _fit(self, X: np.ndarray, z: np.ndarray, progress: ProgressCallback) -> None:
        pipeline = Pipeline(
            [("spectra", make_preprocessor(self.preprocessing)), ("scale", StandardScaler()), ("pls", PLSRegression())]
        )
        usable = [k for k in self.components if k < min(len(X) * 0.8, X.shape[1])] or [1]
        search = GridSearchCV(
            pipeline,
            {"pls__n_components": usable},
            cv=KFold(5, shuffle=True, random_state=self.seed),
            scoring="neg_mean_absolute_error",
        )
        search.fit(X, z)
        self.model_ = search.best_estimator_
        self.fitted_numbers_["n_components"] = int(search.best_params_["pls__n_components"])
        progress(1.0, f"{self.fitted['n_components']} latent variables")

    def _predict_transformed(self, X: np.ndarray) -> np.ndarray:
        return np.ravel(self.model_.predict(X))

    def _save(self, directory: Path) -> None:
        dump_sklearn(self.model_, directory / MODEL_FILE)

    def _load(self, directory: Path) -> None:
        self.model_ = load_sklearn(directory / MODEL_FILE)
