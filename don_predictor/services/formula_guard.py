"""The CSV-injection defence: text a spreadsheet would run as a formula is quoted in every file a user opens."""

from __future__ import annotations

import pandas as pd

from don_predictor.spectra.table import FORMULA_PREFIXES


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells and column names that a spreadsheet would run as a formula with a quote (CSV injection)."""
    safe = frame.copy()
    safe.columns = [_neutral(name) if isinstance(name, str) else name for name in safe.columns]
    for name in safe.columns:
        column = safe[name]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            continue
        try:  # vectorised: a Python loop over 100,000 Arrow-backed strings took most of a second
            risky = column.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
        except AttributeError:  # no text at all in the column
            continue
        if risky.any():
            safe[name] = column.where(~risky, "'" + column[risky].astype(str))
    return safe


def _neutral(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text
