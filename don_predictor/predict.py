"""A validated table + fitted backends -> one results frame: every input row, in input order, with a status."""

from __future__ import annotations

import numpy as np
import pandas as pd

from don_predictor.backends import Backend
from don_predictor.spectra import SpectraTable

ROW_ID_COLUMN = "row"  # the id column's name when the file has none


def id_column_name(table: SpectraTable) -> str:
    return table.id_column or ROW_ID_COLUMN


def predict_table(table: SpectraTable, models: dict[str, Backend]) -> pd.DataFrame:
    """Columns: the id column, status, then `<backend>_ppb` per backend (empty where a row was not scored).

    Raises BandMismatchError (naming missing and extra bands) if the file's bands are not a model's bands.
    """
    matrices = {name: table.bands_matrix(model.band_names) for name, model in models.items()}
    scorable = table.scorable
    results = pd.DataFrame({id_column_name(table): table.ids, "status": table.statuses()})
    for name, model in models.items():
        ppb = np.full(table.n_rows, np.nan)
        if scorable.any():
            ppb[scorable] = model.predict(matrices[name][scorable])
        results[f"{name}_ppb"] = ppb
    return results


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a quote (CSV injection)."""
    safe = frame.copy()
    for name in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[name].dtype) and not pd.api.types.is_bool_dtype(safe[name].dtype):
            safe[name] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v for v in safe[name]]
    return safe


def results_csv(frame: pd.DataFrame) -> bytes:
    return neutralise_formulas(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")
