"""Split-conformal prediction intervals on the sqrt(ppb) scale (see trust.bundle for the whole)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from don_predictor.modeling.preprocessing import sqrt_ppb

DEFAULT_LEVEL = 0.90


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
        residuals = np.abs(sqrt_ppb(y_ppb) - sqrt_ppb(oof_ppb))
        if difficulty is not None:
            residuals = residuals / difficulty
        n = len(residuals)
        # The finite-sample conformal quantile: the ceil((n + 1) * level)-th smallest residual.
        rank = min(n, int(np.ceil((n + 1) * level)))
        return cls(level, float(np.sort(residuals)[rank - 1]), difficulty is not None)

    def interval(self, ppb: np.ndarray, difficulty: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        centre = sqrt_ppb(ppb)
        half = self.half_width_sqrt * (difficulty if self.scaled else 1.0)
        low = np.square(np.clip(centre - half, 0.0, None))
        high = np.square(centre + half)
        return low, high
