"""Warnings about a whole file, as data: a code and its values, worded in one place (`FileWarning.text`).

A streamed file is read batch by batch; its warnings are merged by code and values (WholeFileWarnings), never by
matching their sentences, so a rewording here changes every entry point at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from don_predictor.spectra.table import FORMULA_PREFIXES, MAX_LISTED, SpectraTable, listing, rows_listing

REFLECTANCE_RANGE = (0.0, 1.5)
REFLECTANCE_TOLERANCE = 0.1  # "far outside" the range: a little noise past 0 or 1.5 is normal

IGNORED_COLUMNS = "ignored_columns"  # columns: names
NO_ID_COLUMN = "no_id_column"
REPEATED_IDS = "repeated_ids"  # count, and ids: (id, rows) of the first few, or first_rows: where the first few are
FAR_REFLECTANCE = "far_reflectance"  # count, rows: the first few
EMPTY_ROWS = "empty_rows"  # count
RENAMED_ID = "renamed_id"  # column, output
ABOUT_ROWS = (REPEATED_IDS, FAR_REFLECTANCE, EMPTY_ROWS)  # a batch's say only part: gathered over the whole file


@dataclass(frozen=True)
class FileWarning:
    code: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return _WORDING[self.code](**self.values)


def _ignored(columns: list[str]) -> str:
    return f"columns that are neither bands nor the target were ignored: {listing(columns)}"


def _no_id() -> str:
    return "no id column: rows are identified by their row number"


def _repeated(count: int, ids: list[tuple[str, list[int]]] = (), first_rows: list[int] = ()) -> str:
    if not ids:  # a streamed file keeps hashes of its ids, not the ids
        more = " and more" if count > len(first_rows) else ""
        return f"{count} ids appear more than once (first seen at rows {', '.join(map(str, first_rows))}{more})"
    shown = "; ".join(f"{name!r} on rows {rows_listing(rows)}" for name, rows in ids)
    more = f"; and {count - len(ids):,} more ids" if count > len(ids) else ""
    return f"{count} ids appear more than once: {shown}{more}"


def _far(count: int, rows: list[int]) -> str:
    low, high = REFLECTANCE_RANGE
    more = f" and {count - len(rows)} more" if count > len(rows) else ""
    return (
        f"{count} rows have reflectance far outside [{low:g}, {high:g}] (rows {', '.join(map(str, rows))}{more}): "
        "check that the file holds reflectance, not percent or raw counts"
    )


def _empty(count: int) -> str:
    return f"{count} empty rows were skipped"


def _renamed(column: str, output: str) -> str:
    if column.startswith(FORMULA_PREFIXES):
        reason = "starts like a spreadsheet formula"
    else:
        reason = "is also the name of a results column (status, rf_..., tf_...)"
    return f"the id column {column!r} {reason}: the results call it {output!r}"


_WORDING = {
    IGNORED_COLUMNS: _ignored,
    NO_ID_COLUMN: _no_id,
    REPEATED_IDS: _repeated,
    FAR_REFLECTANCE: _far,
    EMPTY_ROWS: _empty,
    RENAMED_ID: _renamed,
}


# --- what one table says -----------------------------------------------------------------------------------------


def find_file_warnings(
    ids: list[str], id_column: str | None, ignored: list[str], X: np.ndarray, blank_rows: int
) -> list[FileWarning]:
    """What a table's reader says about the whole file (the renamed id column is said by the reader itself)."""
    found = []
    if ignored:
        found.append(FileWarning(IGNORED_COLUMNS, {"columns": ignored}))
    if id_column is None:
        found.append(FileWarning(NO_ID_COLUMN))
    if id_column is not None and (repeated := repeated_ids(ids)):
        shown = list(repeated.items())[:MAX_LISTED]
        found.append(FileWarning(REPEATED_IDS, {"count": len(repeated), "ids": shown}))
    if len(rows := far_reflectance_rows(X)):
        first_rows = [int(r) + 1 for r in rows[:MAX_LISTED]]
        found.append(FileWarning(FAR_REFLECTANCE, {"count": len(rows), "rows": first_rows}))
    if blank_rows:
        found.append(FileWarning(EMPTY_ROWS, {"count": blank_rows}))
    return found


def far_reflectance_rows(X: np.ndarray) -> np.ndarray:
    """Positions of the rows with a value far outside the reflectance range (infinite ones are row problems)."""
    low, high = REFLECTANCE_RANGE
    with np.errstate(invalid="ignore"):
        far = (X < low - REFLECTANCE_TOLERANCE) | (X > high + REFLECTANCE_TOLERANCE)
    return np.flatnonzero((far & np.isfinite(X)).any(axis=1))


def repeated_ids(ids: list[str]) -> dict[str, list[int]]:
    """Each id that appears more than once, in order of first appearance, with its rows (1-based data rows, as
    RowProblem counts them: the first row under the header is row 1)."""
    series = pd.Series(ids, dtype=object)
    twice = series.duplicated(keep=False).to_numpy()
    if not twice.any():
        return {}
    out: dict[str, list[int]] = {}
    for position in np.flatnonzero(twice):
        out.setdefault(ids[position], []).append(int(position) + 1)
    return out


# --- what a file read in batches says ----------------------------------------------------------------------------


@dataclass
class WholeFileWarnings:
    """The warnings of a file read batch by batch (or part by part, on a cluster), gathered in bounded memory: the
    first batch's warnings about the file, and those about its rows summed over every batch with the file's row
    numbers. Ids are kept as 8-byte hashes, so repeated ids are said by the rows where they are first seen."""

    about_file: list[FileWarning] | None = None
    _id_hashes: list[np.ndarray] = field(default_factory=list, repr=False)
    _far_rows: list[int] = field(default_factory=list)
    _far_count: int = 0
    _empty_rows: int = 0

    def add(self, table: SpectraTable, offset: int) -> None:
        """One batch's warnings, the batch starting `offset` data rows after the file's start."""
        if self.about_file is None:
            self.about_file = [w for w in table.file_warnings if w.code not in ABOUT_ROWS]
        for warning in table.file_warnings:
            if warning.code == EMPTY_ROWS:
                self._empty_rows += warning.values["count"]
            elif warning.code == FAR_REFLECTANCE:
                self._far_count += warning.values["count"]
                self._add_far_rows([offset + row for row in warning.values["rows"]])
        if table.id_column is not None:  # 8 bytes per row, not the ids themselves
            self._id_hashes.append(pd.util.hash_array(np.asarray(table.ids, dtype=object)))

    def merge(self, part: WholeFileWarnings, offset: int) -> None:
        """Add those of a part of the file gathered on its own that starts `offset` rows in (parts in file order)."""
        if self.about_file is None:
            self.about_file = part.about_file
        self._empty_rows += part._empty_rows
        self._id_hashes += part._id_hashes
        self._far_count += part._far_count
        self._add_far_rows([offset + row for row in part._far_rows])

    def finish(self) -> list[FileWarning]:
        found = list(self.about_file or [])
        if self._id_hashes:
            found += self._repeated_ids()
        if self._far_count:
            found.append(FileWarning(FAR_REFLECTANCE, {"count": self._far_count, "rows": list(self._far_rows)}))
        if self._empty_rows:
            found.append(FileWarning(EMPTY_ROWS, {"count": self._empty_rows}))
        return found

    def _add_far_rows(self, rows: list[int]) -> None:
        self._far_rows += rows[: MAX_LISTED - len(self._far_rows)]

    def _repeated_ids(self) -> list[FileWarning]:
        """Ids seen more than once, found from their hashes with two arrays of 8 bytes a row (np.unique with
        indices and counts would take five: 40 MB at a million rows)."""
        hashes = np.concatenate(self._id_hashes)
        self._id_hashes = []
        ordered = np.sort(hashes)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        if not repeated.size:
            return []
        positions = np.flatnonzero(np.isin(hashes, repeated))
        _, first = np.unique(hashes[positions], return_index=True)
        rows = np.sort(positions[first])[:MAX_LISTED] + 1
        return [FileWarning(REPEATED_IDS, {"count": int(repeated.size), "first_rows": rows.tolist()})]
