"""The spectra table and its problems: what reading a file gives every other part of the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from don_predictor.config import BACKENDS

if TYPE_CHECKING:
    from don_predictor.spectra.file_warnings import FileWarning

MAX_LISTED = 5  # how many names or rows a message lists before it says "and N more"
ROW_ID_COLUMN = "row"  # the results' id column when the file has none
INPUT_PREFIX = "input_"  # put before an id column's name that a results column already uses
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula


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
    warning_only: bool = False  # the row is used; the reader is told (an id with a hidden character)

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
    file_warnings: list[FileWarning] = field(default_factory=list)  # about the whole file, as data
    lot_column: str | None = None  # `lot` or `lot_id`: groups samples into lots for the lot verdicts
    lots: list[str | None] | None = None  # one per row; None where the cell is empty

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @property
    def output_id_column(self) -> str:
        """The id column's name in results: see output_id_name."""
        return output_id_name(self.id_column)

    @property
    def warnings(self) -> list[str]:
        """The file warnings as the sentences shown to the user."""
        return [warning.text for warning in self.file_warnings]

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
            mask[problem.row - 1] = mask[problem.row - 1] and (problem.blocks_scoring or problem.warning_only)
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
        position = {band_key(name): i for i, name in enumerate(self.band_names)}
        wanted = [band_key(name) for name in model_bands]
        missing = [name for name, key in zip(model_bands, wanted, strict=True) if key not in position]
        extra = sorted(set(position) - set(wanted))
        if missing or extra:
            extra_names = [self.band_names[position[key]] for key in extra]
            raise BandMismatchError(
                f"the file's band columns do not match the model's {len(model_bands)} bands: "
                f"missing {listing(missing)}; extra {listing(extra_names)}"
            )
        return self.X[:, [position[key] for key in wanted]]


def output_id_name(id_column: str | None) -> str:
    """The name the results give the file's id column: never a results column's own name, never a formula."""
    if id_column is None:
        return ROW_ID_COLUMN
    name = f"'{id_column}" if id_column.startswith(FORMULA_PREFIXES) else id_column
    while _is_results_column(name):
        name = INPUT_PREFIX + name
    return name


def _is_results_column(name: str) -> bool:
    """`status` and every `<backend>_...` column (rf_ppb, tf_verdict, tf_minus_rf_ppb, ...), in any case."""
    lower = name.lower()
    return lower == "status" or lower.startswith(tuple(f"{backend}_" for backend in (*BACKENDS, "pls")))


# --- helpers -----------------------------------------------------------------------------------------------------


def is_band(name: str) -> bool:
    try:
        return bool(np.isfinite(float(name)))
    except ValueError:
        return False


def band_key(name: str) -> float:
    return float(name)


def listing(names: list[str], quote: bool = True) -> str:
    if not names:
        return "none"
    shown = [repr(n) if quote else str(n) for n in names[:MAX_LISTED]]
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(shown) + more


def rows_listing(rows: list[int]) -> str:
    """Row numbers as a sentence lists them: "2", "2 and 4", "2, 4 and 9"; past MAX_LISTED, "2, 4, 9, 11, 12 and
    3 more"."""
    shown = [str(row) for row in rows[:MAX_LISTED]]
    if len(rows) > MAX_LISTED:
        return f"{', '.join(shown)} and {len(rows) - MAX_LISTED:,} more"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
