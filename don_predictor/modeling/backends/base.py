"""The one protocol every backend follows: a scikit-learn regressor (fit, predict in ppb, scikit-learn's own
get_params/set_params from an explicit __init__, so clone, cross_validate and GridSearchCV work) that also saves and
loads itself as a bundle. Its trust (intervals, domain, screening) is ScreenedRegressor's, not the backend's."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from don_predictor.modeling.preprocessing import fit_target, forward_target, inverse_target

ProgressCallback = Callable[[float, str], None]  # (fraction done 0..1, what is happening)

PARAMS_FILE = "backend.json"
# Added to an ensemble's spread (trees, members) on the sqrt(ppb) scale: about the rounding of a reference
# measurement; members that agree do not make a sample certain.
DIFFICULTY_FLOOR = 1.0
FIT_STARTED = "starting"  # every fit first reports (0.0, FIT_STARTED): a CV's progress counts the folds by it


def no_progress(fraction: float, message: str) -> None:
    """The default progress callback: says nothing."""


def available_cores() -> int:
    """The CPU cores this process may run on (a container's or taskset's share, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class Backend(RegressorMixin, BaseEstimator, ABC):
    """A regressor from spectra (rows of band values) to DON in ppb.

    Hyper-parameters: each subclass's __init__ names them and only stores them, as scikit-learn requires, so
    get_params/set_params, clone and backend.json (`get_params()` as saved) see the same settings. Fitted state ends
    with an underscore; `band_names`, `fitted` and `history` read it.

    The target transform is done here, in the role of sklearn.compose.TransformedTargetRegressor: fit learns the
    transform on y (its numbers go to `fitted`), the subclass learns on the transformed target and predicts on that
    scale, and predict inverts to ppb. Not TransformedTargetRegressor itself: the trees' and members' spread (the
    difficulty) is needed on the transformed scale from the same pass as the prediction, and the bundles on disk
    keep the transform's state in backend.json beside the subclass's own model file.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    target_transform: str  # every backend's setting: "sqrt", "log1p", ... (preprocessing.TARGET_TRANSFORMS)

    @classmethod
    def checked_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """`settings` when each names a hyper-parameter of this backend, else a ValueError naming the unknown ones
        (in words for the command line and the pages, before anything is fitted)."""
        unknown = set(settings) - set(cls._get_param_names())
        if unknown:
            raise ValueError(f"{cls.label} has no setting {', '.join(sorted(unknown))}")
        return settings

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # DON is a concentration: predictions are clipped at 0 ppb, so the checks' standardised targets (half of
        # them negative) cannot be fitted well.
        tags.regressor_tags.poor_score = True
        return tags

    @property
    def band_names(self) -> list[str]:
        return getattr(self, "band_names_", [])

    @property
    def fitted(self) -> dict[str, Any]:
        """Small fitted numbers (the target transform's, a network's target scaling) saved in backend.json."""
        return getattr(self, "fitted_numbers_", {})

    @property
    def history(self) -> dict[str, list[float]]:
        """Loss curves, when the backend has them."""
        return getattr(self, "history_", {})

    def fit(self, X, y, band_names: list[str] | None = None, progress: ProgressCallback = no_progress) -> Self:
        """Band names: `band_names`, else a DataFrame's columns, else the column numbers ("0", "1", ...)."""
        progress(0.0, FIT_STARTED)
        names = list(band_names) if band_names is not None else [str(c) for c in getattr(X, "columns", [])]
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        if band_names is not None and X.shape[1] != len(names):
            raise ValueError(f"X has {X.shape[1]} columns but {len(names)} band names were given")
        y = np.asarray(y, dtype=float)
        self.band_names_ = names or [str(i) for i in range(X.shape[1])]
        self.fitted_numbers_ = fit_target(self.target_transform, y)
        self.history_ = {}
        self._fit(X, forward_target(self.target_transform, y, self.fitted_numbers_), progress)
        return self

    def predict(self, X) -> np.ndarray:
        """DON in ppb, one value per row of X, never negative."""
        return self.predict_with_difficulty(X)[0]

    def predict_with_difficulty(self, X) -> tuple[np.ndarray, np.ndarray | None]:
        """ppb (never negative) and difficulty (None when the model cannot tell), from one pass of the model."""
        return self._ppb_and_difficulty(self._checked(X))

    def _ppb_and_difficulty(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if len(X) == 0:
            return np.empty(0), self.difficulty(X)
        z, difficulty = self._predict_with_difficulty(X)
        return np.clip(inverse_target(self.target_transform, z, self.fitted), 0.0, None), difficulty

    def _checked(self, X) -> np.ndarray:
        # scikit-learn's checks: fitted, a 2-D finite numeric table with the fitted number of bands (and the same
        # column names when fitted on a DataFrame); an empty table is allowed and gives empty predictions.
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False, ensure_min_samples=0)

    def _predict_with_difficulty(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Prediction on the transformed scale and difficulty of non-empty X. Backends whose difficulty comes from
        the same computation as the prediction (trees, ensemble members) override this to run once."""
        return self._predict_transformed(X), self.difficulty(X)

    def difficulty(self, X: np.ndarray) -> np.ndarray | None:
        """How unsure the model is about each row, on the sqrt(ppb) scale; None when it cannot tell."""
        return None

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {"backend": self.name, "params": self.get_params(), "band_names": self.band_names}
        state |= {"fitted": self.fitted, "history": self.history}
        (directory / PARAMS_FILE).write_text(json.dumps(state, indent=1))
        self._save(directory)

    @classmethod
    def load(cls, directory: Path, **settings: Any) -> Self:
        """The bundle in `directory`; `settings` replace saved ones that only change how it scores (n_jobs)."""
        directory = Path(directory)
        state = json.loads((directory / PARAMS_FILE).read_text())
        if state["backend"] != cls.name:
            raise ValueError(f"{directory} holds a {state['backend']} model, not {cls.name}")
        backend = cls(**state["params"]).set_params(**settings)
        backend.band_names_ = state["band_names"]
        backend.n_features_in_ = len(backend.band_names_)
        backend.fitted_numbers_ = state.get("fitted", {})
        backend.history_ = state.get("history", {})
        backend._load(directory)
        return backend

    @abstractmethod
    def _fit(self, X: np.ndarray, z: np.ndarray, progress: ProgressCallback) -> None:
        """Learn z, the target on the transformed scale."""

    @abstractmethod
    def _predict_transformed(self, X: np.ndarray) -> np.ndarray:
        """The prediction on the transformed target scale, for non-empty X."""

    @abstractmethod
    def _save(self, directory: Path) -> None: ...

    @abstractmethod
    def _load(self, directory: Path) -> None: ...
