"""A validated table + fitted backends -> one results frame: every input row, in input order, with a status."""

from __future__ import annotations

import numpy as np
import pandas as pd

from don_predictor.backends import Backend
from don_predictor.config import SCREENING_LIMIT_PPB
from don_predictor.limits import verdicts
from don_predictor.spectra import FORMULA_PREFIXES, SpectraTable


def id_column_name(table: SpectraTable) -> str:
    """The id column's name in the results: `row` without one; renamed when it is a results column's own name
    (`status` becomes `input_status`) or looks like a formula (the table's warnings say so)."""
    return table.output_id_column


def predict_table(
    table: SpectraTable, models: dict[str, Backend], limit_ppb: float = SCREENING_LIMIT_PPB
) -> pd.DataFrame:
    """Columns: the id column, status, then per backend `<backend>_ppb` and, when the model has them,
    `<backend>_low_ppb`, `<backend>_high_ppb` (the prediction interval), `<backend>_in_domain` with the statistics
    behind it (`<backend>_t2`, `<backend>_q`, `<backend>_baseline`: Hotelling T², Q residual and the
    baseline-offset statistic in SDs) and `<backend>_verdict` against `limit_ppb`. Rows that were not
    scored have empty cells.

    Raises BandMismatchError (naming missing and extra bands) if the file's bands are not a model's bands.
    """
    matrices = {name: table.bands_matrix(model.band_names) for name, model in models.items()}
    scorable = table.scorable
    results = pd.DataFrame({id_column_name(table): table.ids, "status": table.statuses()})
    for name, model in models.items():
        with np.errstate(all="ignore"):  # 1e300 in a spectrum overflows; its row is out of domain, said once, in it
            scored = model.predict_with_trust(matrices[name][scorable])
        for key in ("ppb", "low_ppb", "high_ppb"):
            if key in scored:
                column = np.full(table.n_rows, np.nan)
                column[scorable] = scored[key]
                results[f"{name}_{key}"] = column
        if "in_domain" in scored:
            in_domain = pd.array([pd.NA] * table.n_rows, dtype="boolean")
            in_domain[scorable] = scored["in_domain"]
            results[f"{name}_in_domain"] = in_domain
            for statistic in ("t2", "q", "baseline"):  # the statistics behind the flag
                column = np.full(table.n_rows, np.nan)
                column[scorable] = scored[statistic]
                results[f"{name}_{statistic}"] = column
        if "low_ppb" in scored:
            trusted = results[f"{name}_in_domain"].fillna(False).to_numpy(dtype=bool)
            results[f"{name}_verdict"] = verdicts(
                results[f"{name}_low_ppb"], results[f"{name}_high_ppb"], trusted, limit_ppb
            )
    return results


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells and column names that a spreadsheet would run as a formula with a quote (CSV injection)."""
    safe = frame.copy()
    safe.columns = [_neutral(name) if isinstance(name, str) else name for name in safe.columns]
    for name in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[name].dtype) and not pd.api.types.is_bool_dtype(safe[name].dtype):
            safe[name] = [_neutral(v) if isinstance(v, str) else v for v in safe[name]]
    return safe


def _neutral(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def results_csv(frame: pd.DataFrame) -> bytes:
    """The results as CSV: in-domain flags as true/false, formula-like text cells neutralised."""
    out = neutralise_formulas(frame)
    for name in out.columns:
        if pd.api.types.is_bool_dtype(out[name].dtype):
            out[name] = out[name].map({True: "true", False: "false"}).fillna("")
    return out.to_csv(index=False, lineterminator="\n").encode("utf-8")
