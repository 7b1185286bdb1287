"""Read and validate a spectra CSV into one typed table.

Nothing is dropped: a row with a bad value stays in the table, is marked with its problems and is left out of
fitting and scoring. Problems that make the whole file unusable raise `SpectraError`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from don_predictor.config import ID_COLUMN, TARGET_COLUMN

REFLECTANCE_RANGE = (0.0, 1.5)
REFLECTANCE_TOLERANCE = 0.1  # "far outside" the range: a little noise past 0 or 1.5 is normal
MAX_LISTED = 5  # how many names or rows a message lists before it says "and N more"


class SpectraError(ValueError):
    """The file cannot be used at all. `problems` holds one plain sentence per problem."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class BandMismatchError(SpectraError):
    """The file's band columns are not the ones a model was trained on."""


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based data row: the first row under the header is row 1
    id: str
    column: str
    value: str
    reason: str
    blocks_scoring: bool = True  # a bad target only keeps the row out of fitting and metrics

    @property
    def message(self) -> str:
        shown = f" (value {self.value!r})" if self.value else ""
        return f"row {self.row}, id {self.id!r}, column {self.column!r}: {self.reason}{shown}"


@dataclass
class SpectraTable:
    ids: list[str]
    id_column: str | None
    band_names: list[str]
    X: np.ndarray  # (rows, bands) float64; NaN where a value was missing or bad
    target: np.ndarray | None  # ppb; NaN where missing or bad; None when the file has no target column
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @property
    def has_target(self) -> bool:
        return self.target is not None

    @property
    def scorable(self) -> np.ndarray:
        """Rows whose spectrum is complete and finite."""
        mask = np.ones(self.n_rows, dtype=bool)
        for problem in self.problems:
            if problem.blocks_scoring:
                mask[problem.row - 1] = False
        return mask

    @property
    def trainable(self) -> np.ndarray:
        """Rows usable for fitting or metrics: a scorable spectrum and a valid target."""
        if self.target is None:
            return np.zeros(self.n_rows, dtype=bool)
        mask = self.scorable & np.isfinite(self.target)
        for problem in self.problems:
            mask[problem.row - 1] = mask[problem.row - 1] and problem.blocks_scoring
        return mask

    def statuses(self) -> list[str]:
        """'ok' for each scorable row, else the first reason it could not be scored."""
        status = ["ok"] * self.n_rows
        for problem in self.problems:
            if problem.blocks_scoring and status[problem.row - 1] == "ok":
                status[problem.row - 1] = f"not scored: column {problem.column!r}: {problem.reason}"
        return status

    def bands_matrix(self, model_bands: list[str]) -> np.ndarray:
        """X with its columns in the model's band order; BandMismatchError names missing and extra bands."""
        position = {_band_key(name): i for i, name in enumerate(self.band_names)}
        wanted = [_band_key(name) for name in model_bands]
        missing = [name for name, key in zip(model_bands, wanted, strict=True) if key not in position]
        extra = sorted(set(position) - set(wanted))
        if missing or extra:
            extra_names = [self.band_names[position[key]] for key in extra]
            raise BandMismatchError(
                f"the file's band columns do not match the model's {len(model_bands)} bands: "
                f"missing {_listing(missing)}; extra {_listing(extra_names)}"
            )
        return self.X[:, [position[key] for key in wanted]]


def read_spectra(
    source: str | Path | bytes | BinaryIO, *, require_target: bool = False, max_rows: int | None = None
) -> SpectraTable:
    """Read a spectra CSV (path, bytes or binary file object) into a validated SpectraTable."""
    text = _decode(_read_bytes(source))
    if not text.strip():
        raise SpectraError("the file is empty")
    lines = text.splitlines()
    header_line = next(line for line in lines if line.strip())
    delimiter = _sniff_delimiter(header_line)
    names = _header_names(header_line, delimiter)
    body_sample = "\n".join(lines[1:20])
    decimal_comma = delimiter != "," and re.search(r"\d,\d", body_sample) is not None

    band_names = [name for name in names if _is_band(name)]
    target_column = next((name for name in names if name.strip().lower() == TARGET_COLUMN), None)
    other = [name for name in names if name not in band_names and name != target_column]
    id_column = next((name for name in other if name.lower() == ID_COLUMN), other[0] if other else None)
    ignored = [name for name in other if name != id_column and not name.startswith("_unnamed_")]

    if not band_names:
        raise SpectraError(
            "no band columns: band columns are named by a number (a band index such as 0..447, or a "
            f"wavelength in nm); the header has {_listing(names)}"
        )
    if require_target and target_column is None:
        raise SpectraError(f"no '{TARGET_COLUMN}' column: training needs the measured DON of every sample")

    frame, invalid_rows = _parse(text, header_line, names, delimiter, decimal_comma, id_column)
    frame, invalid_rows, blank_rows = _drop_blank_rows(frame, invalid_rows, names)
    n_rows = len(frame) + len(invalid_rows)
    if n_rows == 0:
        raise SpectraError("the file has a header but no data rows")
    if max_rows is not None and n_rows > max_rows:
        raise SpectraError(f"the file has {n_rows:,} rows; this app accepts at most {max_rows:,} (DON_MAX_UPLOAD_ROWS)")

    parsed_positions = np.setdiff1d(np.arange(n_rows), list(invalid_rows))
    ids = _ids(frame, id_column, parsed_positions, invalid_rows, n_rows, names, delimiter)
    problems: list[RowProblem] = []
    X = np.full((n_rows, len(band_names)), np.nan)
    X[parsed_positions] = _numeric_block(frame, band_names, decimal_comma, parsed_positions, ids, problems)
    target = None
    if target_column is not None:
        target = np.full(n_rows, np.nan)
        target[parsed_positions] = _numeric_target(
            frame, target_column, decimal_comma, parsed_positions, ids, problems, require_target
        )
    flat = np.isfinite(X).all(axis=1) & (np.ptp(X, axis=1) == 0) if X.shape[1] > 1 else np.zeros(n_rows, bool)
    for position in np.flatnonzero(flat):  # a dead or saturated sensor: SNV and the models cannot use it
        value = f"{X[position, 0]:g}"
        problems.append(RowProblem(int(position) + 1, ids[position], "(all bands)", value, "the spectrum is flat"))
    for position, raw in sorted(invalid_rows.items()):
        n_fields = len(next(csv.reader([raw], delimiter=delimiter)))
        problems.append(
            RowProblem(
                position + 1,
                ids[position],
                "(whole row)",
                "",
                f"the row has {n_fields} fields but the header has {len(names)}",
            )
        )
    problems.sort(key=lambda p: (p.row, not p.blocks_scoring))

    warnings = _warnings(ids, id_column, ignored, X, blank_rows)
    return SpectraTable(ids, id_column, band_names, X, target, problems, warnings)


# --- reading -----------------------------------------------------------------------------------------------------


def _read_bytes(source: str | Path | bytes | BinaryIO) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    data = source.read()
    return data.encode("utf-8") if isinstance(data, str) else data


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte decodes: the usual export of older Windows instruments


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _header_names(header_line: str, delimiter: str) -> list[str]:
    raw = next(csv.reader([header_line], delimiter=delimiter))
    names = [name.strip() or f"_unnamed_{i + 1}" for i, name in enumerate(raw)]
    seen: set[str] = set()
    duplicated = [name for name in names if name in seen or seen.add(name)]
    if duplicated:
        raise SpectraError(f"the header names {_listing(sorted(set(duplicated)))} more than once")
    return names


def _parse(
    text: str, header_line: str, names: list[str], delimiter: str, decimal_comma: bool, id_column: str | None
) -> tuple[pd.DataFrame, dict[int, str]]:
    invalid: list[tuple[int, str]] = []

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.text))
        return "skip"

    # Line numbers of bad rows are only known to a single-threaded reader.
    read_options = pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False)
    parse_options = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=keep_invalid)
    column_types = {id_column: pa.string()} if id_column else {}
    convert_options = pacsv.ConvertOptions(column_types=column_types, decimal_point="," if decimal_comma else ".")
    from_header = text[text.index(header_line) :]  # skip_rows=1 must skip the header, not a blank line above it
    try:
        parsed = pacsv.read_csv(
            io.BytesIO(from_header.encode("utf-8")),
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
    except pa.ArrowInvalid as error:
        raise SpectraError(f"the file is not a readable CSV: {error}") from None
    # pyarrow counts non-blank rows from 1 with the header as row 1; data positions start at 0.
    invalid_rows = {number - 2: raw for number, raw in invalid}
    return parsed.to_pandas(), invalid_rows


def _drop_blank_rows(
    frame: pd.DataFrame, invalid_rows: dict[int, str], names: list[str]
) -> tuple[pd.DataFrame, dict[int, str], int]:
    """Rows with no value at all (a spreadsheet's trailing ';;;;' lines) carry nothing to lose: drop them."""
    blank = np.ones(len(frame), dtype=bool)
    for name in frame.columns:
        if not blank.any():
            return frame, invalid_rows, 0
        column = frame[name]
        empty = column.isna()
        if not pd.api.types.is_numeric_dtype(column.dtype):
            empty |= column.astype("string").str.strip().eq("").fillna(True)
        blank &= empty.to_numpy()
    if not blank.any():
        return frame, invalid_rows, 0
    n_rows = len(frame) + len(invalid_rows)
    parsed_positions = np.setdiff1d(np.arange(n_rows), list(invalid_rows))
    blank_positions = set(parsed_positions[blank].tolist())
    kept = [p for p in range(n_rows) if p not in blank_positions]
    new_position = {old: new for new, old in enumerate(kept)}
    invalid = {new_position[p]: raw for p, raw in invalid_rows.items()}
    return frame.loc[~blank].reset_index(drop=True), invalid, len(blank_positions)


def _ids(
    frame: pd.DataFrame,
    id_column: str | None,
    parsed_positions: np.ndarray,
    invalid_rows: dict[int, str],
    n_rows: int,
    names: list[str],
    delimiter: str,
) -> list[str]:
    ids = [str(i + 1) for i in range(n_rows)]  # without an id column, row numbers serve
    if id_column is None:
        return ids
    for position, value in zip(parsed_positions, frame[id_column].tolist(), strict=True):
        if value is not None and not pd.isna(value) and str(value).strip():
            ids[position] = str(value).strip()
    id_index = names.index(id_column)
    for position, raw in invalid_rows.items():
        fields = next(csv.reader([raw], delimiter=delimiter))
        if id_index < len(fields) and fields[id_index].strip():
            ids[position] = fields[id_index].strip()
    return ids


def _to_float(column: pd.Series, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray]:
    """Float values, plus a mask of cells that held text which is not a number."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan, copy=True), np.zeros(len(column), dtype=bool)
    text = column.astype("string").str.strip()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    not_a_number = text.notna().to_numpy() & (text.to_numpy(dtype=object, na_value="") != "") & np.isnan(values)
    return values, not_a_number


def _numeric_block(
    frame: pd.DataFrame,
    band_names: list[str],
    decimal_comma: bool,
    positions: np.ndarray,
    ids: list[str],
    problems: list[RowProblem],
) -> np.ndarray:
    values = np.empty((len(frame), len(band_names)))
    text_cells = np.zeros_like(values, dtype=bool)
    for j, name in enumerate(band_names):
        values[:, j], text_cells[:, j] = _to_float(frame[name], decimal_comma)
    kinds = (
        (text_cells, "not a number"),
        (np.isnan(values) & ~text_cells, "missing value"),
        (np.isinf(values), "not a finite number"),
    )
    for mask, reason in kinds:
        for i in np.flatnonzero(mask.any(axis=1)):
            columns = np.flatnonzero(mask[i])
            first = band_names[columns[0]]
            more = f" (and {len(columns) - 1} more band columns)" if len(columns) > 1 else ""
            raw = frame.iloc[i][first]
            shown = "" if reason == "missing value" else str(raw)
            problems.append(RowProblem(int(positions[i]) + 1, ids[positions[i]], first, shown, reason + more))
    return values


def _numeric_target(
    frame: pd.DataFrame,
    column: str,
    decimal_comma: bool,
    positions: np.ndarray,
    ids: list[str],
    problems: list[RowProblem],
    require_target: bool,
) -> np.ndarray:
    values, text_cells = _to_float(frame[column], decimal_comma)
    raw = frame[column].tolist()
    for i in range(len(values)):
        reason = None
        if text_cells[i]:
            reason = "the DON concentration is not a number"
        elif np.isinf(values[i]):
            reason = "the DON concentration is not a finite number"
        elif values[i] < 0:
            reason = "the DON concentration is negative"
        elif np.isnan(values[i]) and require_target:
            reason = "the DON concentration is missing"
        if reason:
            shown = "" if np.isnan(values[i]) and not text_cells[i] else str(raw[i])
            problems.append(RowProblem(int(positions[i]) + 1, ids[positions[i]], column, shown, reason, False))
            values[i] = np.nan
    return values


def _warnings(ids: list[str], id_column: str | None, ignored: list[str], X: np.ndarray, blank_rows: int) -> list[str]:
    warnings = []
    if ignored:
        warnings.append(f"columns that are neither bands nor the target were ignored: {_listing(ignored)}")
    if id_column is None:
        warnings.append("no id column: rows are identified by their row number")
    counts = pd.Series(ids).value_counts()
    duplicated = counts[counts > 1]
    if id_column is not None and len(duplicated):
        warnings.append(f"{len(duplicated)} ids appear more than once: {_listing(duplicated.index.tolist())}")
    low, high = REFLECTANCE_RANGE
    with np.errstate(invalid="ignore"):
        far = (X < low - REFLECTANCE_TOLERANCE) | (X > high + REFLECTANCE_TOLERANCE)
    outside = (far & np.isfinite(X)).any(axis=1)  # infinite values are already row problems
    if outside.any():
        rows = [str(i + 1) for i in np.flatnonzero(outside)]
        warnings.append(
            f"{len(rows)} rows have reflectance far outside [{low:g}, {high:g}] (rows {_listing(rows, quote=False)}): "
            "check that the file holds reflectance, not percent or raw counts"
        )
    if blank_rows:
        warnings.append(f"{blank_rows} empty rows were skipped")
    return warnings


# --- helpers -----------------------------------------------------------------------------------------------------


def _is_band(name: str) -> bool:
    try:
        return bool(np.isfinite(float(name)))
    except ValueError:
        return False


def _band_key(name: str) -> float:
    return float(name)


def _listing(names: list[str], quote: bool = True) -> str:
    if not names:
        return "none"
    shown = [repr(n) if quote else str(n) for n in names[:MAX_LISTED]]
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(shown) + more
