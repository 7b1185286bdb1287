"""Figures as a saved file gives them: rounded to what the method supports. Every results file (the pages'
downloads, the history's, the command line's CSV and Parquet, the Dask engine's parts) goes through export_frame,
so the same run reads the same everywhere."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from don_predictor.scoring.frame import MEASURED_COLUMN

PPB_SUFFIXES = ("_ppb", "_low_ppb", "_high_ppb", "_diff_ppb")
RATIO = re.compile(r"[a-z]+_over_[a-z]+")  # Compare's tf_over_rf: one model's prediction over the other's
RATIO_DECIMALS = 2
SIGNIFICANT_DIGITS = 4  # T², Q and the baseline statistic: enough to compare with their limits, no false precision


def export_frame(results: pd.DataFrame, measured: np.ndarray | None = None) -> pd.DataFrame:
    """The results as saved: ppb to the unit (the reference methods report whole µg/kg), the domain statistics to
    four significant digits, ratios such as tf_over_rf to two decimals, and the measured value (when the upload had
    one) after `status`."""
    out = results.copy()
    for name in out.columns:
        if not isinstance(name, str) or not pd.api.types.is_float_dtype(out[name].dtype):
            continue
        if name.endswith(PPB_SUFFIXES):
            finite = out[name].where(np.isfinite(out[name]) & (out[name].abs() < 2.0**53))  # no whole number else
            out[name] = finite.round().astype("Int64")
        elif name.endswith(("_t2", "_q", "_baseline")):
            out[name] = significant(out[name].to_numpy(dtype=float), SIGNIFICANT_DIGITS)
        elif RATIO.fullmatch(name):
            out[name] = out[name].round(RATIO_DECIMALS)
    if measured is not None:
        at = out.columns.get_loc("status") + 1 if "status" in out else len(out.columns)
        out.insert(at, measured_column(results), pd.array(np.round(measured), dtype="Float64").astype("Int64"))
    return out


def measured_column(results: pd.DataFrame) -> str:
    """The name the measured value gets in a saved file: `measured_ppb`, or `input_measured_ppb` when the upload
    already has a column of that name (it then is the file's own id or text column)."""
    return MEASURED_COLUMN if MEASURED_COLUMN not in results else f"input_{MEASURED_COLUMN}"


def significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round each value to `digits` significant digits (NaN and infinities unchanged)."""
    out = values.astype(float).copy()
    finite = np.isfinite(out) & (out != 0)
    magnitude = np.floor(np.log10(np.abs(out[finite])))
    scale = 10.0 ** (digits - 1 - magnitude)
    out[finite] = np.round(out[finite] * scale) / scale
    return out
