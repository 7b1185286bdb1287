"""Cell values to numbers, and the row problems a file's values give (file_warnings: what the whole file gives)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from don_predictor.plain_text import hidden_characters, visible
from don_predictor.spectra.table import RowProblem

AMBIGUOUS = "is ',' a decimal comma or a thousands separator? Write the number without thousands separators"
COMMA_DECIMAL = r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?"  # 0,123  12,5  1200,5
COMMA_THOUSANDS = r"[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?"  # 1,234,567  1,234.5
DOT_DECIMAL = r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?"


def _to_float(column: pd.Series, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float values, a mask of cells that held text which is not a number, and a mask of cells like '1,200'
    whose comma could mean either of two numbers."""
    nothing = np.zeros(len(column), dtype=bool)
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan, copy=True), nothing, nothing
    text = column.astype("string").str.strip()
    ambiguous = nothing
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    elif text.str.contains(",", regex=False).any():
        text, ambiguous = _commas_in_numbers(text)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    not_a_number = text.notna().to_numpy() & (text.to_numpy(dtype=object, na_value="") != "") & np.isnan(values)
    return values, not_a_number & ~ambiguous, ambiguous


def _commas_in_numbers(text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers with a comma in a column that is not decimal-comma throughout (quoted "0,123" in a comma-separated
    file, say). The column decides what its commas mean: '0,123' or '12,5' can only be decimal commas, '1,234,567'
    or '1,234.5' (or a plain '0.5' beside them) only thousands separators. A '1,200' the column cannot settle is
    flagged, never guessed."""
    decimal = text.str.fullmatch(COMMA_DECIMAL).fillna(False).to_numpy(dtype=bool)
    thousands = text.str.fullmatch(COMMA_THOUSANDS).fillna(False).to_numpy(dtype=bool)
    dotted = text.str.fullmatch(DOT_DECIMAL).fillna(False).to_numpy(dtype=bool)
    sure_decimal = (decimal & ~thousands).any()
    sure_thousands = (thousands & ~decimal).any() or dotted.any()
    if sure_decimal and not sure_thousands:
        return text.where(~decimal, text.str.replace(",", ".", regex=False)), np.zeros(len(text), dtype=bool)
    if sure_thousands and not sure_decimal:
        return text.where(~thousands, text.str.replace(",", "", regex=False)), np.zeros(len(text), dtype=bool)
    return text, decimal & thousands


def numeric_block(
    frame: pd.DataFrame,
    band_names: list[str],
    decimal_comma: bool,
    positions: np.ndarray,
    ids: list[str],
    problems: list[RowProblem],
    bands: np.ndarray | None = None,
) -> np.ndarray:
    """The band values as a rows x bands float array (NaN where a value is unusable), each unusable value reported
    as a row problem. `bands`: the block already read as numbers (the usual file), else read from the frame."""
    if bands is not None:  # the usual file: every band read as a number, no text
        values = bands
        text_cells = ambiguous = np.zeros_like(values, dtype=bool)
    elif all(pd.api.types.is_float_dtype(frame.dtypes[name]) for name in band_names):
        values = frame[band_names].to_numpy(dtype=float, na_value=np.nan)
        text_cells = ambiguous = np.zeros_like(values, dtype=bool)
    else:
        values = np.empty((len(frame), len(band_names)))
        text_cells = np.zeros_like(values, dtype=bool)
        ambiguous = np.zeros_like(values, dtype=bool)
        for j, name in enumerate(band_names):
            values[:, j], text_cells[:, j], ambiguous[:, j] = _to_float(frame[name], decimal_comma)
    kinds = (
        (text_cells, "not a number"),
        (ambiguous, f"not a number: {AMBIGUOUS}"),
        (np.isnan(values) & ~text_cells & ~ambiguous, "missing value"),
        (np.isinf(values), "not a finite number"),
    )
    for mask, reason in kinds:
        for i in np.flatnonzero(mask.any(axis=1)):
            columns = np.flatnonzero(mask[i])
            first = band_names[columns[0]]
            more = f" (and {len(columns) - 1} more band columns)" if len(columns) > 1 else ""
            raw = values[i, columns[0]] if bands is not None else frame.iloc[i][first]
            shown = "" if reason == "missing value" else str(raw)
            problems.append(RowProblem(int(positions[i]) + 1, ids[positions[i]], first, shown, reason + more))
    return values


def numeric_target(
    frame: pd.DataFrame,
    column: str,
    decimal_comma: bool,
    positions: np.ndarray,
    ids: list[str],
    problems: list[RowProblem],
    require_target: bool,
) -> np.ndarray:
    values, text_cells, ambiguous = _to_float(frame[column], decimal_comma)
    raw = frame[column].tolist()
    for i in range(len(values)):
        reason = None
        if ambiguous[i]:
            reason = f"the DON concentration is ambiguous: {AMBIGUOUS}"
        elif text_cells[i]:
            reason = "the DON concentration is not a number"
        elif np.isinf(values[i]):
            reason = "the DON concentration is not a finite number"
        elif values[i] < 0:
            reason = "the DON concentration is negative"
        elif np.isnan(values[i]) and require_target:
            reason = "the DON concentration is missing"
        if reason:
            shown = "" if np.isnan(values[i]) and not (text_cells[i] or ambiguous[i]) else str(raw[i])
            problems.append(RowProblem(int(positions[i]) + 1, ids[positions[i]], column, shown, reason, False))
            values[i] = np.nan
    return values


def hidden_character_problems(
    ids: list[str], id_column: str | None, lots: list[str | None] | None, lot_column: str | None
) -> list[RowProblem]:
    """A warning on each row whose id or lot holds an invisible or direction-changing character: `ab\u200bc` looks
    like `abc` beside it, `lot\u202efdp.exe` reads as `lotexe.pdf`. The row is still used."""
    found = []
    for column, values in ((id_column, ids if id_column else None), (lot_column, lots)):
        for position, value in enumerate(values or []):
            if value and not value.isprintable() and (hidden := hidden_characters(value)):  # isprintable: fast path
                reason = f"holds the hidden character{'s' * (len(hidden) > 1)} {', '.join(hidden)}: shown escaped"
                found.append(
                    RowProblem(position + 1, ids[position], column, visible(value), reason, False, warning_only=True)
                )
    return found
