"""Stateless spectral preprocessing, chosen by name so a saved bundle can say which it used.

Row-wise steps (SNV, Savitzky–Golay) need nothing fitted; fitted ones (MSC's reference, scaling, a Yeo-Johnson
lambda) are fitted inside each backend, so inside each CV fold.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from chemotools.derivative import SavitzkyGolay
from chemotools.scatter import MultiplicativeScatterCorrection, StandardNormalVariate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer


def make_preprocessor(name: str):
    """A scikit-learn transformer for the named preprocessing."""
    if name == "none":
        return FunctionTransformer(None)
    if name == "snv":
        return StandardNormalVariate()
    if name == "sg1":
        return SavitzkyGolay(window_length=11, polyorder=2, deriv=1)
    if name == "msc":  # the reference is the training mean spectrum, fitted inside each fold
        return MultiplicativeScatterCorrection()
    if name == "snv+sg1":
        return make_pipeline(StandardNormalVariate(), SavitzkyGolay(window_length=11, polyorder=2, deriv=1))
    raise ValueError(f"unknown preprocessing {name!r}; choose one of {', '.join(PREPROCESSING)}")


PREPROCESSING = ("none", "snv", "msc", "sg1", "snv+sg1")


def row_preprocessor(name: str, bands: int):
    """A row-wise preprocessing (each spectrum on its own: nothing learned from other rows), ready for spectra of
    `bands` bands; rebuilt from its name alone when a saved model loads. MSC learns a reference: pipelines only."""
    if name == "msc":
        raise ValueError("MSC needs a fitted reference spectrum; use make_preprocessor inside a pipeline")
    # Fitting a row-wise step only records the number of bands; any row of that width does.
    return make_preprocessor(name).fit(np.linspace(0.0, 1.0, bands)[None, :])


def fit_target(name: str, y: np.ndarray) -> dict[str, float]:
    """What a target transform learns from the training targets (saved in the bundle's backend.json)."""
    if name == "yeo-johnson":
        _, lmbda = scipy.stats.yeojohnson(np.clip(np.asarray(y, dtype=float), 0.0, None))
        return {"target_lambda": float(lmbda)}
    return {}


def forward_target(name: str, y: np.ndarray, fitted: dict | None = None) -> np.ndarray:
    """ppb -> the scale a model learns on, to tame the skew (median ~500 ppb, max ~131,000 ppb).

    sqrt keeps the high samples that matter for limits in view; log1p flattens them more; cbrt and a fitted
    Yeo-Johnson power sit in between (docs/model_card.md compares them).
    """
    y = np.asarray(y, dtype=float)
    if name == "log1p":
        return np.log1p(y)
    if name == "sqrt":
        return sqrt_ppb(y)
    if name == "cbrt":
        return np.cbrt(np.clip(y, 0.0, None))
    if name == "yeo-johnson":
        return scipy.stats.yeojohnson(np.clip(y, 0.0, None), (fitted or {})["target_lambda"])
    if name == "none":
        return y
    raise ValueError(f"unknown target transform {name!r}")


def sqrt_ppb(ppb: np.ndarray) -> np.ndarray:
    """The sqrt(ppb) scale on which intervals, difficulty and band importance are measured (negatives as 0)."""
    return np.sqrt(np.clip(np.asarray(ppb, dtype=float), 0.0, None))


TARGET_TRANSFORMS = ("log1p", "sqrt", "cbrt", "yeo-johnson", "none")


def inverse_target(name: str, z: np.ndarray, fitted: dict | None = None) -> np.ndarray:
    """The model's scale -> ppb, never negative."""
    z = np.asarray(z, dtype=float)
    if name == "log1p":
        ppb = np.expm1(np.clip(z, None, 15.0))  # 15 ≈ 3.3 million ppb: stops overflow
    elif name == "sqrt":
        ppb = np.square(np.clip(z, 0.0, None))
    elif name == "cbrt":
        ppb = np.clip(z, 0.0, None) ** 3
    elif name == "yeo-johnson":
        ppb = _inverse_yeo_johnson(np.clip(z, 0.0, None), (fitted or {})["target_lambda"])
    else:
        ppb = z
    return np.clip(ppb, 0.0, None)


def _inverse_yeo_johnson(z: np.ndarray, lmbda: float) -> np.ndarray:
    # The non-negative branch only: DON is never negative.
    if abs(lmbda) < 1e-12:
        return np.expm1(np.clip(z, None, 15.0))
    base = np.clip(z * lmbda + 1.0, 1e-12, None)
    return np.clip(base ** (1.0 / lmbda) - 1.0, None, 1e7)  # 1e7 ppb: stops overflow for lambda < 0
