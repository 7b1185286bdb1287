"""How far to trust each prediction: conformal prediction intervals and the applicability domain.

Both are fitted at training time, saved in the model bundle as plain arrays (no pickle) and applied to every
prediction.

- Intervals: split-conformal on out-of-fold residuals on the square-root scale, divided by the model's own
  difficulty estimate where it has one (RF: the spread of its trees). DON errors grow with the
  concentration, so a fixed width in sqrt(ppb) gives intervals that are narrower for clean samples than for
  contaminated ones. (On the real dev data, log1p residuals of the many zero-DON samples made log-scale intervals
  50 times wider for the same 90 % coverage.)
- Applicability domain: a PCA model of the raw training spectra with Hotelling T² (is the spectrum an unusual mix of
  the known shapes?) and Q residuals (does it have a shape the training set never had?). Limits are the 99th
  percentile of each statistic on held-out folds, so genuine new samples are flagged about 1-2 % of the time.
  Written with numpy rather than chemotools' HotellingT2/QResiduals: those wrap a fitted scikit-learn PCA that we
  would have to pickle, and the bundle stays pickle-free this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

TRUST_FILE = "trust.npz"
DEFAULT_LEVEL = 0.90
DOMAIN_COMPONENTS = 10
DOMAIN_QUANTILE = 0.99


@dataclass
class ConformalIntervals:
    """Intervals on the square-root scale: [(sqrt(p) - q·d)², (sqrt(p) + q·d)²], the low end at least 0.

    d is the model's difficulty estimate for the sample when it has one (the spread of an RF's trees), else 1:
    intervals are then narrow where the model is sure and wide where it is not, at the same coverage.
    """

    level: float
    half_width_sqrt: float
    scaled: bool = False

    @classmethod
    def fit(
        cls, y_ppb: np.ndarray, oof_ppb: np.ndarray, level: float = DEFAULT_LEVEL, difficulty: np.ndarray | None = None
    ) -> ConformalIntervals:
        residuals = np.abs(_root(y_ppb) - _root(oof_ppb))
        if difficulty is not None:
            residuals = residuals / difficulty
        n = len(residuals)
        # The finite-sample conformal quantile: the ceil((n + 1) * level)-th smallest residual.
        rank = min(n, int(np.ceil((n + 1) * level)))
        return cls(level, float(np.sort(residuals)[rank - 1]), difficulty is not None)

    def interval(self, ppb: np.ndarray, difficulty: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        centre = _root(ppb)
        half = self.half_width_sqrt * (difficulty if self.scaled else 1.0)
        low = np.square(np.clip(centre - half, 0.0, None))
        high = np.square(centre + half)
        return low, high


def _root(ppb) -> np.ndarray:
    return np.sqrt(np.clip(np.asarray(ppb, float), 0.0, None))


@dataclass
class DomainModel:
    """PCA of the raw training spectra with T² and Q limits."""

    mean: np.ndarray
    components: np.ndarray  # (k, bands)
    variances: np.ndarray  # (k,) score variances
    t2_limit: float
    q_limit: float

    @classmethod
    def fit(cls, X: np.ndarray, n_components: int = DOMAIN_COMPONENTS, seed: int = 0) -> DomainModel:
        X = np.asarray(X, float)
        k = max(1, min(n_components, X.shape[0] - 2, X.shape[1]))
        held_out_t2, held_out_q = [], []
        folds = min(5, len(X))
        for train, test in KFold(folds, shuffle=True, random_state=seed).split(X):
            model = cls._pca(X[train], k)
            t2, q = model.statistics(X[test])
            held_out_t2.append(t2)
            held_out_q.append(q)
        full = cls._pca(X, k)
        full.t2_limit = float(np.quantile(np.concatenate(held_out_t2), DOMAIN_QUANTILE))
        full.q_limit = float(np.quantile(np.concatenate(held_out_q), DOMAIN_QUANTILE))
        return full

    @classmethod
    def _pca(cls, X: np.ndarray, k: int) -> DomainModel:
        mean = X.mean(axis=0)
        _, singular, vt = np.linalg.svd(X - mean, full_matrices=False)
        variances = singular[:k] ** 2 / max(len(X) - 1, 1)
        return cls(mean, vt[:k], np.maximum(variances, 1e-12), np.inf, np.inf)

    def statistics(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = np.asarray(X, float) - self.mean
        scores = centred @ self.components.T
        t2 = np.sum(scores**2 / self.variances, axis=1)
        residual = centred - scores @ self.components
        return t2, np.sum(residual**2, axis=1)

    def in_domain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(in_domain, T², Q) per row."""
        t2, q = self.statistics(X)
        return (t2 <= self.t2_limit) & (q <= self.q_limit), t2, q


@dataclass
class Trust:
    intervals: ConformalIntervals | None
    domain: DomainModel

    def save(self, directory: Path) -> None:
        arrays = {
            "domain_mean": self.domain.mean,
            "domain_components": self.domain.components,
            "domain_variances": self.domain.variances,
            "domain_limits": np.array([self.domain.t2_limit, self.domain.q_limit]),
        }
        if self.intervals is not None:
            intervals = self.intervals
            arrays["intervals"] = np.array([intervals.level, intervals.half_width_sqrt, float(intervals.scaled)])
        np.savez(Path(directory) / TRUST_FILE, **arrays)

    @classmethod
    def load(cls, directory: Path) -> Trust | None:
        path = Path(directory) / TRUST_FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            t2_limit, q_limit = data["domain_limits"]
            domain = DomainModel(
                data["domain_mean"],
                data["domain_components"],
                data["domain_variances"],
                float(t2_limit),
                float(q_limit),
            )
            intervals = None
            if "intervals" in data:
                level, half_width, scaled = data["intervals"]
                intervals = ConformalIntervals(float(level), float(half_width), bool(scaled))
        return cls(intervals, domain)
