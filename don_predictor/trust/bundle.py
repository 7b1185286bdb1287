"""What a model bundle carries of its trust (trust.npz, plain arrays, no pickle): the intervals, the domain, the
screening calibration and a hash of each training spectrum."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from don_predictor.trust.domain import DomainModel
from don_predictor.trust.intervals import ConformalIntervals
from don_predictor.trust.screening import ScreeningCalibration

TRUST_FILE = "trust.npz"


@dataclass
class Trust:
    intervals: ConformalIntervals | None
    domain: DomainModel
    # Out-of-fold scores and measured values for the screening verdicts; None in bundles saved before them.
    screening: ScreeningCalibration | None = None
    # A 64-bit hash of each training spectrum, to tell when an upload holds training rows (in-sample figures).
    training_hashes: np.ndarray | None = None

    def in_training_data(self, X: np.ndarray) -> np.ndarray | None:
        """Per row: was this exact spectrum a training row? None for bundles saved before the hashes."""
        if self.training_hashes is None:
            return None
        return np.isin(spectrum_hashes(X), self.training_hashes)

    def save(self, directory: Path) -> None:
        arrays = {
            "domain_mean": self.domain.mean,
            "domain_components": self.domain.components,
            "domain_variances": self.domain.variances,
            "domain_limits": np.array([self.domain.t2_limit, self.domain.q_limit, self.domain.baseline_limit]),
        }
        if self.domain.baseline_weights is not None:
            arrays["domain_baseline_weights"] = self.domain.baseline_weights
        if self.intervals is not None:
            intervals = self.intervals
            arrays["intervals"] = np.array([intervals.level, intervals.half_width_sqrt, float(intervals.scaled)])
        if self.screening is not None:
            arrays["screening_y_ppb"] = self.screening.y_ppb
            arrays["screening_score_ppb"] = self.screening.score_ppb
        if self.training_hashes is not None:
            arrays["training_hashes"] = self.training_hashes
        np.savez(Path(directory) / TRUST_FILE, **arrays)

    @classmethod
    def load(cls, directory: Path) -> Trust | None:
        path = Path(directory) / TRUST_FILE
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            # Bundles from before the baseline check hold two limits and no weights: they load without it.
            t2_limit, q_limit, baseline_limit = (*data["domain_limits"], np.inf)[:3]
            domain = DomainModel(
                data["domain_mean"],
                data["domain_components"],
                data["domain_variances"],
                float(t2_limit),
                float(q_limit),
                data.get("domain_baseline_weights"),
                float(baseline_limit),
            )
            intervals = None
            if "intervals" in data:
                level, half_width, scaled = data["intervals"]
                intervals = ConformalIntervals(float(level), float(half_width), bool(scaled))
            screening = None
            if "screening_y_ppb" in data and "screening_score_ppb" in data:
                screening = ScreeningCalibration(data["screening_y_ppb"], data["screening_score_ppb"])
            hashes = data.get("training_hashes")
        return cls(intervals, domain, screening, hashes)


def spectrum_hashes(X: np.ndarray) -> np.ndarray:
    """A 64-bit hash per row of the spectra as float64 values: the same spectrum read from the same file (or any
    file with the same numbers) hashes the same."""
    rows = np.ascontiguousarray(np.asarray(X, dtype="<f8"))
    return np.array(
        [int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little") for row in rows],
        dtype=np.uint64,
    )
