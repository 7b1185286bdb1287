"""Stateless spectral preprocessing, chosen by name so a saved bundle can say which it used.

Row-wise steps (SNV, Savitzky–Golay) need nothing fitted; anything fitted (scaling) lives inside each backend.
"""

from __future__ import annotations

import numpy as np
from chemotools.derivative import SavitzkyGolay
from chemotools.scatter import StandardNormalVariate
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
    if name == "snv+sg1":
        return make_pipeline(StandardNormalVariate(), SavitzkyGolay(window_length=11, polyorder=2, deriv=1))
    raise ValueError(f"unknown preprocessing {name!r}; choose one of {', '.join(PREPROCESSING)}")


PREPROCESSING = ("none", "snv", "sg1", "snv+sg1")


def apply_preprocessing(name: str, X: np.ndarray) -> np.ndarray:
    return make_preprocessor(name).fit_transform(np.asarray(X, dtype=float))


def forward_target(name: str, y: np.ndarray) -> np.ndarray:
    """ppb -> the scale a model learns on, to tame the skew (median ~500 ppb, max ~131,000 ppb).

    sqrt keeps the high samples that matter for limits in view; log1p flattens them more.
    """
    y = np.asarray(y, dtype=float)
    if name == "log1p":
        return np.log1p(y)
    if name == "sqrt":
        return np.sqrt(np.clip(y, 0.0, None))
    if name == "none":
        return y
    raise ValueError(f"unknown target transform {name!r}")


TARGET_TRANSFORMS = ("log1p", "sqrt", "none")


def inverse_target(name: str, z: np.ndarray) -> np.ndarray:
    """The model's scale -> ppb, never negative."""
    z = np.asarray(z, dtype=float)
    if name == "log1p":
        ppb = np.expm1(np.clip(z, None, 15.0))  # 15 ≈ 3.3 million ppb: stops overflow
    elif name == "sqrt":
        ppb = np.square(np.clip(z, 0.0, None))
    else:
        ppb = z
    return np.clip(ppb, 0.0, None)
