"""ScreenedRegressor: a backend together with the trust it earns, in the style of scikit-learn's
CalibratedClassifierCV.

Its fit runs the repeated k-fold CV (a clone of the backend in each fold, so every fitted step sees only that fold's
rows), calibrates the conformal intervals and the screening verdicts on the out-of-fold predictions, fits the
applicability domain on every row, and fits the backend once more on every row. The final model and its trust are
fitted attributes (`estimator_`, `trust_`), so clone() gives an estimator that learns its own trust again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from don_predictor.modeling.backends import Backend, backend_class
from don_predictor.modeling.backends.base import PARAMS_FILE, ProgressCallback, no_progress
from don_predictor.modeling.evaluation import cross_validate
from don_predictor.modeling.screening_power import SCREENED_LIMITS_PPB, screening_summary
from don_predictor.tracing import span
from don_predictor.trust.bundle import Trust, spectrum_hashes
from don_predictor.trust.domain import DomainModel
from don_predictor.trust.intervals import DEFAULT_LEVEL, ConformalIntervals
from don_predictor.trust.screening import DEFAULT_RISK, Risk, ScreeningCalibration

CV_FIT_WEIGHT = 0.8  # a CV fold's fit on 4/5 of the rows, against 1.0 for the final fit on all of them
CALIBRATION_WEIGHT = 0.05


class Stages:
    """Maps each stage's own progress (0..1) onto the whole's, weighted by the stage's usual cost; messages say
    the stage ("final fit: 100/300 trees")."""

    def __init__(self, weights: dict[str, float], progress: ProgressCallback):
        self.weights, self.progress = weights, progress
        self.total = sum(weights.values()) or 1.0

    def reporter(self, stage: str, *, named: bool = True) -> ProgressCallback:
        names = list(self.weights)
        before = sum(self.weights[name] for name in names[: names.index(stage)])

        def report(fraction: float, message: str) -> None:
            done = (before + self.weights[stage] * min(max(fraction, 0.0), 1.0)) / self.total
            self.progress(done, f"{stage}: {message}" if named else message)

        return report


class ScreenedRegressor(RegressorMixin, BaseEstimator):
    """A backend (`base`, unfitted) and its trust, learned in one fit.

    cv: folds of the repeated k-fold CV; repeats: its repeats (0: no CV, so no intervals, screening calibration or
    CV figures; the domain is still fitted); level: the intervals' coverage; limits (ppb) and risk: where and at
    which error rates the out-of-fold verdicts are measured for `cv_metrics_`.

    Fitted: `estimator_` (the backend fitted on every row), `trust_`, `cv_metrics_` (None without CV) and
    `interval_coverage_` (the cross-conformal check of the intervals, None without CV).
    """

    def __init__(
        self,
        base: Backend,
        *,
        cv: int = 5,
        repeats: int = 1,
        level: float = DEFAULT_LEVEL,
        limits: tuple[float, ...] = SCREENED_LIMITS_PPB,
        risk: Risk = DEFAULT_RISK,
    ):
        self.base = base
        self.cv = cv
        self.repeats = repeats
        self.level = level
        self.limits = limits
        self.risk = risk

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # the base's: predictions clipped at 0 ppb
        return tags

    def stage_weights(self) -> dict[str, float]:
        """This fit's stages and their usual shares of its time (a caller adds its own stages after them)."""
        return {
            "cross-validation": CV_FIT_WEIGHT * self.cv * self.repeats,
            "final fit": 1.0,
            "calibration": CALIBRATION_WEIGHT,
        }

    def fit(self, X, y, band_names: list[str] | None = None, progress: ProgressCallback = no_progress) -> Self:
        """Band names: `band_names`, else a DataFrame's columns, else the column numbers (as Backend.fit)."""
        names = list(band_names) if band_names is not None else [str(c) for c in getattr(X, "columns", [])]
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        stages = Stages(self.stage_weights(), progress)
        self.cv_metrics_, self.interval_coverage_ = None, None
        result = None
        if self.repeats > 0:
            with span("train.cross_validation", fits=self.cv * self.repeats):
                result = cross_validate(
                    self.base, X, y, folds=self.cv, repeats=self.repeats, progress=stages.reporter("cross-validation")
                )
                # What the model decides at each screened limit, out of fold: the figures the gate judges it by.
                limits = tuple(sorted({float(limit) for limit in self.limits}))
                self.cv_metrics_ = result.for_manifest() | {
                    "screening": screening_summary(y, result.oof_predictions, result.fold_ids, limits, self.risk)
                }
        with span("train.final_fit"):
            self.estimator_ = clone(self.base).fit(X, y, names or None, progress=stages.reporter("final fit"))
        stages.reporter("calibration")(0.0, "intervals and applicability domain")
        with span("train.calibration"):
            self.trust_ = self._fit_trust(X, y, result)
        return self

    def _fit_trust(self, X: np.ndarray, y: np.ndarray, result) -> Trust:
        intervals, screening = None, None
        if result is not None:
            # Intervals are calibrated on every out-of-fold residual; their coverage is checked fold by fold.
            difficulty = None if result.oof_difficulty is None else result.oof_difficulty.ravel()
            intervals = ConformalIntervals.fit(
                np.tile(y, self.repeats), result.oof_predictions.ravel(), self.level, difficulty
            )
            self.interval_coverage_ = result.interval_coverage(y, self.level)
            # The screening verdicts need one out-of-fold score per sample: the first repeat's
            # (docs/validation_report.md).
            screening = ScreeningCalibration(y, result.oof_predictions[0])
        return Trust(intervals, DomainModel.fit(X), screening, spectrum_hashes(X))

    # --- what the scoring code reads --------------------------------------------------------------------------------

    @property
    def trust(self) -> Trust | None:
        """The fitted (or loaded) trust; None before fit and for bundles saved without trust.npz."""
        return getattr(self, "trust_", None)

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def label(self) -> str:
        return self.base.label

    @property
    def band_names(self) -> list[str]:
        return self.estimator_.band_names if hasattr(self, "estimator_") else []

    @property
    def target_transform(self) -> str:
        return self.base.target_transform

    def predict(self, X) -> np.ndarray:
        """DON in ppb, one value per row of X, never negative."""
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def predict_with_difficulty(self, X) -> tuple[np.ndarray, np.ndarray | None]:
        check_is_fitted(self)
        return self.estimator_.predict_with_difficulty(X)

    def difficulty(self, X) -> np.ndarray | None:
        check_is_fitted(self)
        return self.estimator_.difficulty(X)

    def predict_with_trust(self, X) -> dict[str, np.ndarray]:
        """ppb, plus low_ppb / high_ppb (when intervals were calibrated), in_domain, t2, q and baseline (when the
        trust is known). The model runs once: its prediction and its difficulty come from the same pass."""
        check_is_fitted(self)
        X = self.estimator_._checked(X)
        ppb, difficulty = self.estimator_.predict_with_difficulty(X)
        out = {"ppb": ppb}
        if self.trust is None:
            return out
        if self.trust.intervals is not None:
            out["low_ppb"], out["high_ppb"] = self.trust.intervals.interval(ppb, difficulty)
        if len(ppb):
            out["in_domain"], out["t2"], out["q"], out["baseline"] = self.trust.domain.in_domain(X)
        else:  # no scorable row: the same columns, empty
            out["in_domain"], out["t2"], out["q"], out["baseline"] = np.empty(0, bool), *([np.empty(0)] * 3)
        return out

    # --- the bundle on disk: the backend's files and trust.npz beside them ---------------------------------------

    def save(self, directory: Path) -> None:
        check_is_fitted(self)
        self.estimator_.save(directory)
        if self.trust is not None:
            self.trust.save(directory)

    @classmethod
    def load(cls, directory: Path, **settings: Any) -> Self:
        """A saved bundle (any backend's, trust.npz or not), fitted as when it was saved; `settings` as Backend.load."""
        directory = Path(directory)
        backend = json.loads((directory / PARAMS_FILE).read_text())["backend"]
        return cls.of(backend_class(backend).load(directory, **settings), Trust.load(directory))

    @classmethod
    def of(cls, fitted: Backend, trust: Trust | None) -> Self:
        """A fitted backend and the trust learned for it (a bundle read from disk), as one fitted estimator."""
        screened = cls(clone(fitted))
        screened.estimator_, screened.trust_ = fitted, trust
        screened.cv_metrics_, screened.interval_coverage_ = None, None  # kept in the manifest, not the bundle
        screened.n_features_in_ = len(fitted.band_names)
        return screened
