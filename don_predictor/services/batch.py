"""Streamed scoring: a spectra file of any size, batch by batch, in bounded memory.

The batches (spectra.stream: blocks of a CSV or Parquet file read as uploads are) are scored by the same function as
an upload (`predict.predict_table`), and each batch's results are written as soon as they exist (ResultsWriter, CSV or
Parquet by the output's suffix), so every input row comes back, in order, with its status, while only a few batches
are ever in memory. Warnings about the whole file (duplicated ids, reflectance out of range, skipped empty rows) are
gathered over all batches (spectra.file_warnings) and said once at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from don_predictor.config import SCREENING_LIMIT_PPB
from don_predictor.modeling.backends import Backend
from don_predictor.services.predict import id_column_name, lot_column_name, predict_table
from don_predictor.services.progress import Progress
from don_predictor.services.results_writer import ResultsWriter
from don_predictor.spectra.file_warnings import FileWarning, WholeFileWarnings
from don_predictor.spectra.stream import Batch
from don_predictor.spectra.table import SpectraError
from don_predictor.trust.screening import DEFAULT_RISK, VERDICTS, Risk, lot_table

Say = Callable[[str], None]


# --- what the whole file says --------------------------------------------------------------------------------------


@dataclass
class Summary:
    """What a streamed run found, gathered batch by batch (small whatever the file's size)."""

    rows: int = 0
    scored: int = 0
    batches: int = 0
    id_column: str = "row"
    warnings: list[str] = field(default_factory=list)  # about the whole file, said once: file_warnings worded
    file_warnings: list[FileWarning] = field(default_factory=list)
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)  # backend -> verdict -> count
    out_of_domain: dict[str, int] = field(default_factory=dict)  # backend -> scored spectra outside its domain
    without_lot: int = 0  # rows of a file with a lot column whose lot cell is empty: in no lot's verdict
    lots: pd.DataFrame | None = None
    history: pd.DataFrame | None = None  # the results, when they were few enough to keep for the history
    _gathered: WholeFileWarnings = field(default_factory=WholeFileWarnings, repr=False)
    _lot_parts: list[pd.DataFrame] = field(default_factory=list, repr=False)
    _history_parts: list[pd.DataFrame] | None = field(default_factory=list, repr=False)

    def add(self, batch: Batch, results: pd.DataFrame, backends: list[str], keep_rows: int) -> None:
        table = batch.table
        if self.batches == 0:
            self.id_column = id_column_name(table)
        self.batches += 1
        self.rows += table.n_rows
        self.scored += int(table.scorable.sum())
        self._gathered.add(table, batch.offset)
        for backend in backends:
            if f"{backend}_verdict" in results:
                counts = self.verdicts.setdefault(backend, dict.fromkeys(VERDICTS, 0))
                for verdict, n in results[f"{backend}_verdict"].value_counts().items():
                    counts[verdict] = counts.get(verdict, 0) + int(n)
        for backend in backends:
            if f"{backend}_in_domain" in results:
                outside = int(results[f"{backend}_in_domain"].eq(False).sum())
                self.out_of_domain[backend] = self.out_of_domain.get(backend, 0) + outside
        if table.lots is not None:
            lot = lot_column_name(table)
            self.without_lot += int(results[lot].isna().sum())
            keep = [self.id_column, lot, *(f"{b}_verdict" for b in backends if f"{b}_verdict" in results)]
            self._lot_parts.append(results.loc[results[lot].notna(), keep])
        if self._history_parts is not None:
            if self.rows <= keep_rows:
                self._history_parts.append(results)
            else:  # too many rows to keep: the run is not recorded row by row
                self._history_parts = None

    def merge(self, part: Summary, offset: int) -> None:
        """Add the summary of a part of the file scored on its own (a Dask partition) that starts `offset` rows in;
        the parts must come in file order."""
        if self.batches == 0:
            self.id_column = part.id_column
        self.batches += part.batches
        self.rows += part.rows
        self.scored += part.scored
        self._gathered.merge(part._gathered, offset)
        for backend, counts in part.verdicts.items():
            total = self.verdicts.setdefault(backend, dict.fromkeys(VERDICTS, 0))
            for verdict, n in counts.items():
                total[verdict] = total.get(verdict, 0) + n
        for backend, n in part.out_of_domain.items():
            self.out_of_domain[backend] = self.out_of_domain.get(backend, 0) + n
        self.without_lot += part.without_lot
        self._history_parts = None

    def finish(self, backends: list[str]) -> None:
        self.file_warnings = self._gathered.finish()
        self.warnings = [warning.text for warning in self.file_warnings]
        if self._lot_parts:
            lots = pd.concat(self._lot_parts, ignore_index=True)
            lot = lots.columns[1]
            verdicts = {b: lots[f"{b}_verdict"].fillna("").to_numpy() for b in backends if f"{b}_verdict" in lots}
            self.lots = lot_table(lots[lot].tolist(), lots[self.id_column].astype(str).tolist(), verdicts)
        if self._history_parts:
            self.history = pd.concat(self._history_parts, ignore_index=True)
        self._lot_parts, self._history_parts = [], None


# --- the run -------------------------------------------------------------------------------------------------------


def score_stream(
    incoming: Iterable[Batch],
    writer: ResultsWriter,
    models: dict[str, Backend],
    limit_ppb: float = SCREENING_LIMIT_PPB,
    risk: Risk = DEFAULT_RISK,
    *,
    keep_rows: int = 0,
    say: Say | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Score the batches of a file (batches(), read_ahead()) into `writer`, one at a time.

    `say` gets one line per row problem as each batch comes (row numbers are the file's). Results are kept in the
    summary, for the history, only while the file has at most `keep_rows` rows. Raises SpectraError (and
    BandMismatchError) for a file that cannot be scored at all; the output is then not written.
    """
    backends = list(models)
    summary = Summary()
    try:
        for batch in incoming:
            for line in batch.problem_lines() if say is not None else []:
                if progress is not None:
                    progress.clear()
                say(f"warning: {line}")
            with np.errstate(all="ignore"):  # 1e300 in a spectrum overflows; its row is out of domain, said in it
                results = predict_table(batch.table, models, limit_ppb, risk, measured=True)
            writer.write(results)
            summary.add(batch, results, backends, keep_rows)
            if progress is not None:
                progress.update(summary.rows, batch.bytes_read)
        if summary.batches == 0:  # a Parquet file without rows
            raise SpectraError("the file has a header but no data rows")
        summary.finish(backends)
    except BaseException:
        writer.abort()
        raise
    finally:
        if progress is not None:
            progress.close()
    writer.close()
    return summary
