"""RandomForest backend: a scikit-learn Pipeline (spectral preprocessing + forest) on the transformed target (the
base class transforms it), saved with skops (no pickle)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline

from don_predictor.modeling.backends.base import DIFFICULTY_FLOOR, Backend, ProgressCallback, available_cores
from don_predictor.modeling.preprocessing import make_preprocessor
from don_predictor.store.safe_io import dump_sklearn, load_sklearn

MODEL_FILE = "model.skops"
TREES_PER_STEP = 25  # trees are grown in batches so progress can be reported
# Rows scored by every tree before the next rows: 1,024 spectra of 448 float32 bands (1.8 MB) stay in the CPU cache
# while all the trees walk them. Tree by tree over 100,000 rows, node visits missed the cache: 24 s a pass instead
# of about 5 (measured: 256 rows 5.3, 1,024 rows 4.9, 4,096 rows 4.6 CPU-s per 100k on 2 busy cores; 1,024 gives a
# streamed batch of 1,800 rows two chunks for two cores).
ROWS_PER_CHUNK = 1024


class RandomForestBackend(Backend):
    name = "rf"
    label = "RandomForest"

    def __init__(
        self,
        n_estimators: int = 300,
        # Every band at every split: in 5x5 CV on the dev data R² 0.44 vs 0.35 for 0.3, MAE 2,634 vs 2,751 ppb,
        # for about three times the training time (docs/model_card.md).
        max_features: float = 1.0,
        min_samples_leaf: int = 1,
        preprocessing: str = "snv",
        target_transform: str = "sqrt",
        seed: int = 0,
        n_jobs: int = -1,  # threads for fitting and for scoring (-1: every available core)
    ):
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.preprocessing = preprocessing
        self.target_transform = target_transform
        self.seed = seed
        self.n_jobs = n_jobs

    def _fit(self, X: np.ndarray, z: np.ndarray, progress: ProgressCallback) -> None:
        spectra = make_preprocessor(self.preprocessing).fit(X)
        Z = spectra.transform(X)
        forest = RandomForestRegressor(
            n_estimators=0,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            warm_start=True,  # each fit below adds only the new trees
        )
        total, grown = int(self.n_estimators), 0
        while grown < total:
            grown = min(total, grown + TREES_PER_STEP)
            forest.set_params(n_estimators=grown).fit(Z, z)
            progress(grown / total, f"{grown}/{total} trees")
        # Threads sum tree outputs in varying order; one thread makes every prediction bit-for-bit repeatable.
        forest.set_params(n_jobs=1)
        self.model_ = Pipeline([("spectra", spectra), ("forest", forest)])

    def _predict_transformed(self, X: np.ndarray) -> np.ndarray:
        return self._predict_with_difficulty(X)[0]

    def _predict_with_difficulty(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """One pass over the trees gives the forest's prediction (their mean) and its difficulty (their spread)."""
        mean, spread = self._tree_statistics(X)
        return mean, spread + DIFFICULTY_FLOOR if self.target_transform == "sqrt" else None

    def _save(self, directory: Path) -> None:
        dump_sklearn(self.model_, directory / MODEL_FILE)

    def _load(self, directory: Path) -> None:
        self.model_ = load_sklearn(directory / MODEL_FILE)

    def difficulty(self, X: np.ndarray) -> np.ndarray | None:
        """The spread of the trees' predictions, on the sqrt(ppb) scale (the floor keeps a unanimous forest from
        claiming zero uncertainty)."""
        if self.target_transform != "sqrt":
            return None
        if len(X) == 0:
            return np.empty(0)
        return self._tree_statistics(X)[1] + DIFFICULTY_FLOOR

    def _forest_input(self, X: np.ndarray) -> np.ndarray:
        # The preprocessed spectra as the trees read them: float32, C order (what the forest's own checks make).
        return np.ascontiguousarray(self.model_[:-1].transform(np.asarray(X, dtype=float)), dtype=np.float32)

    def _tree_statistics(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the trees' predictions per row (transformed scale), chunk by chunk of
        rows, the chunks spread over the available cores (each chunk's arithmetic is the same on any thread, so
        the results are repeatable)."""
        X = np.asarray(X, dtype=float)
        mean, spread = np.empty(len(X)), np.empty(len(X))
        starts = range(0, len(X), ROWS_PER_CHUNK)

        def score(start: int) -> None:
            rows = slice(start, start + ROWS_PER_CHUNK)
            Z = self._forest_input(X[rows])
            total = np.zeros(len(Z))
            per_tree = np.empty((len(self.model_[-1].estimators_), len(Z)))
            for i, tree in enumerate(self.model_[-1].estimators_):
                # Z is already as the trees read it (float32, C order): their input checks are skipped.
                per_tree[i] = tree.predict(Z, check_input=False)
                total += per_tree[i]  # summed in tree order, as scikit-learn's one-thread predict does
            mean[rows] = total / len(per_tree)
            spread[rows] = per_tree.std(axis=0)

        workers = min(self._jobs(), len(starts))
        if workers <= 1:
            for start in starts:
                score(start)
        else:  # the trees' Cython code releases the GIL: threads share the cores without copying the model
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(score, starts))
        return mean, spread

    def _jobs(self) -> int:
        jobs = int(self.n_jobs or 1)
        return available_cores() if jobs < 0 else jobs
