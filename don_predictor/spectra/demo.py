"""The synthetic demo calibration set: deterministic, shaped like real corn reflectance, with a learnable DON signal.

It is synthetic: good for trying the app and for tests, not for calibrating an instrument.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from don_predictor.config import ID_COLUMN, TARGET_COLUMN

N_BANDS = 448
CALIBRATION_FILE = "demo_calibration.csv"
UPLOAD_FILE = "demo_upload.csv"

# The coarse shape of corn reflectance over 448 bands (every 32nd band): low in the visible, a rise, a plateau.
_SHAPE_BANDS = np.arange(0, N_BANDS, 32)
_SHAPE_LEVELS = np.array(
    [0.445, 0.337, 0.346, 0.522, 0.649, 0.701, 0.739, 0.771, 0.789, 0.802, 0.812, 0.812, 0.794, 0.777]
)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(values, [(0, 0)] * (values.ndim - 1) + [(3 * width, 3 * width)], mode="edge")
    return np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="valid"), -1, padded)


def base_curve() -> np.ndarray:
    bands = np.arange(N_BANDS)
    return _smooth(np.interp(bands, _SHAPE_BANDS, _SHAPE_LEVELS), 8)


def don_signature() -> np.ndarray:
    """How reflectance changes per unit of scaled log-DON: an absorption near band 300, a weaker rise near 120."""
    bands = np.arange(N_BANDS)
    return -0.05 * np.exp(-0.5 * ((bands - 300) / 25) ** 2) + 0.02 * np.exp(-0.5 * ((bands - 120) / 18) ** 2)


def sample_don_ppb(rng: np.random.Generator, n: int) -> np.ndarray:
    """Zero-inflated and right-skewed like field data: ~18 % zero, median in the hundreds, a tail to ~100,000."""
    don = np.exp(rng.normal(np.log(700.0), 1.7, n))
    don[rng.random(n) < 0.18] = 0.0
    return np.round(np.clip(don, 0.0, 100_000.0), 1)


def make_spectra(don_ppb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(don_ppb)
    bands = np.arange(N_BANDS) / (N_BANDS - 1)
    level = np.log1p(don_ppb)[:, None] / np.log1p(100_000.0)
    scale = rng.normal(1.0, 0.07, (n, 1))  # scatter: particle size and packing change the whole curve
    offset = rng.normal(0.0, 0.02, (n, 1))
    tilt = rng.normal(0.0, 0.015, (n, 1)) * bands
    smooth_wiggle = _smooth(rng.normal(0.0, 0.02, (n, N_BANDS)), 12)  # sample-to-sample shape variation
    noise = rng.normal(0.0, 0.004, (n, N_BANDS))  # band-to-band sensor noise
    return (base_curve() + level * don_signature()) * scale + offset + tilt + smooth_wiggle + noise


def demo_frame(n: int, seed: int, id_prefix: str, with_target: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    don = sample_don_ppb(rng, n)
    X = make_spectra(don, rng)
    frame = pd.DataFrame(np.round(X, 5), columns=[str(b) for b in range(N_BANDS)])
    frame.insert(0, ID_COLUMN, [f"{id_prefix}_{i:04d}" for i in range(n)])
    if with_target:
        frame[TARGET_COLUMN] = don
    return frame


def write_demo_data(out_dir: str | Path, n_calibration: int = 500, n_upload: int = 50) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (
        (CALIBRATION_FILE, demo_frame(n_calibration, seed=20240611, id_prefix="demo", with_target=True)),
        (UPLOAD_FILE, demo_frame(n_upload, seed=20240612, id_prefix="upload", with_target=False)),
    ):
        path = out_dir / name
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written
