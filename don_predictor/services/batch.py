"""Streamed scoring: a spectra file of any size, batch by batch, in bounded memory.

The batches (spectra.stream: blocks of a CSV or Parquet file read as uploads are) go through the same pipeline as
an upload (`scoring.pipeline.screen`), and each batch's results are written as soon as they exist (ResultsWriter,
CSV or Parquet by the output's suffix), so every input row comes back, in order, with its status, while only a few
batches are ever in memory. Row numbers in messages are the file's own. Warnings about the whole file (duplicated
ids, reflectance out of range, skipped empty rows) are gathered over all batches (spectra.file_warnings) and said
once at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from don_predictor.lab.worklist import StreamedWorklist
from don_predictor.modeling.backends import Backend
from don_predictor.scoring.frame import results_frame
from don_predictor.scoring.pipeline import Screened, screen
from don_predictor.scoring.run import Lots, ScoredRun
from don_predictor.services.progress import Progress
from don_predictor.services.results_writer import ResultsWriter
from don_predictor.spectra.file_warnings import FileWarning, WholeFileWarnings
from don_predictor.spectra.stream import Batch
from don_predictor.spectra.table import SpectraError
from don_predictor.trust.screening import DEFAULT_RISK, VERDICTS, Risk, Thresholds

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
    lots: Lots | None = None  # the file's lots and their verdicts (rows without a lot left out)
    history: ScoredRun | None = None  # the run, when it was small enough to keep for the history
    thresholds: dict[str, Thresholds | None] = field(default_factory=dict)  # per model with verdicts
    _gathered: WholeFileWarnings = field(default_factory=WholeFileWarnings, repr=False)
    _lot_parts: list[Lots] = field(default_factory=list, repr=False)
    _history_parts: list[ScoredRun] | None = field(default_factory=list, repr=False)

    def add(self, batch: Batch, screened: Screened, keep_rows: int) -> None:
        table, run, decisions = batch.table, screened.run, screened.decisions
        if self.batches == 0:
            self.id_column = run.id_column
            self.thresholds = decisions.thresholds
        self.batches += 1
        self.rows += table.n_rows
        self.scored += int(table.scorable.sum())
        self._gathered.add(table, batch.offset)
        for backend, decision in decisions.models.items():
            counts = self.verdicts.setdefault(backend, dict.fromkeys(VERDICTS, 0))
            for verdict, n in pd.Series(decision.verdict).value_counts().items():
                counts[verdict] = counts.get(verdict, 0) + int(n)
        for backend, scores in run.backends.items():
            if scores.in_domain is not None:
                outside = int((~scores.in_domain.fillna(True)).sum())
                self.out_of_domain[backend] = self.out_of_domain.get(backend, 0) + outside
        if run.lots is not None:
            keep = np.flatnonzero([lot is not None for lot in run.lots])
            self.without_lot += run.n_rows - len(keep)
            verdicts = {name: decision.verdict[keep] for name, decision in decisions.models.items()}
            kept = Lots([run.lots[i] for i in keep], [str(run.ids[i]) for i in keep], verdicts, run.lot_column or "lot")
            self._lot_parts.append(kept)
        if self._history_parts is not None:
            if self.rows <= keep_rows:
                self._history_parts.append(run)
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
            parts = self._lot_parts
            verdicts = {b: np.concatenate([p.verdicts[b] for p in parts]) for b in parts[0].verdicts}
            lots, ids = [lot for p in parts for lot in p.lots], [i for p in parts for i in p.ids]
            self.lots = Lots(lots, ids, verdicts, parts[0].column)
        if self._history_parts:
            self.history = ScoredRun.concat(self._history_parts)
        self._lot_parts, self._history_parts = [], None


# --- the run -------------------------------------------------------------------------------------------------------


def score_stream(
    incoming: Iterable[Batch],
    writer: ResultsWriter,
    models: dict[str, Backend],
    limit_ppb: float,
    risk: Risk = DEFAULT_RISK,
    *,
    keep_rows: int = 0,
    say: Say | None = None,
    progress: Progress | None = None,
    worklist: StreamedWorklist | None = None,
) -> Summary:
    """Score the batches of a file (spectra.stream.batches(), read_ahead()) into `writer`, one at a time.

    `say` gets one line per row problem as each batch comes (row numbers are the file's). Results are kept in the
    summary, for the history, only while the file has at most `keep_rows` rows. Raises SpectraError (and
    BandMismatchError) for a file that cannot be scored at all; the output is then not written. Each batch goes
    through the one pipeline (scoring.pipeline.screen); the caller records the kept run (summary.history) and,
    with `worklist`, the lab worklist drawn batch by batch from the decision to act on.
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
                screened = screen(batch.table, models, limit_ppb, risk)
            writer.write(results_frame(screened.run, screened.decisions, measured=True))
            summary.add(batch, screened, keep_rows)
            if worklist is not None and (acting := screened.decisions.acting()) is not None:
                table = batch.table
                worklist.add(
                    batch.offset,
                    table.ids,
                    acting.verdict,
                    acting.reason,
                    table.lots,
                    table.X,
                    table.band_names,
                    acting.decided_by,
                )
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
