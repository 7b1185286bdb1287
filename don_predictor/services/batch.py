"""Streamed scoring: a spectra file of any size, batch by batch, in bounded memory.

A CSV is cut into blocks of whole lines; each block, under the file's header, is read by the same reader as an
upload (`spectra.read_spectra`: same delimiters, decimal commas, encodings and row problems) and scored by the same
pipeline (`scoring.pipeline.screen`). A Parquet file is read a record batch at a time. Each batch's results are
written as soon as they exist (CSV or Parquet, by the output's suffix), so every input row comes back, in order,
with its status, while only a few batches are ever in memory.

Row numbers in messages are the file's own (the first data row is row 1): each batch's are shifted by the rows
before it. Warnings about the whole file (duplicated ids, reflectance out of range, skipped empty rows) are gathered
over all batches and said once at the end.
"""

from __future__ import annotations

import codecs
import dataclasses
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from don_predictor.modeling.backends import Backend
from don_predictor.scoring.frame import results_frame
from don_predictor.scoring.pipeline import Screened, screen
from don_predictor.scoring.run import Lots, ScoredRun
from don_predictor.services.precision import export_frame
from don_predictor.services.results_csv import results_csv
from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.table import MAX_LISTED, SpectraError, SpectraTable
from don_predictor.spectra.validate import REFLECTANCE_RANGE, REFLECTANCE_TOLERANCE
from don_predictor.trust.screening import DEFAULT_RISK, VERDICTS, Risk, Thresholds

# Bytes of CSV per batch: about 1,800 spectra of 448 bands. Per-batch costs (pandas, one call per tree) stay small,
# and the batch's copies (text, Arrow, float64, preprocessed, results; one batch read ahead) keep the process under
# 1 GB with both models loaded (they take 740 MB): measured on 2 cores, peak RSS 1,027 MB with 16 MB batches, 920 MB
# with 8 MB, for the same CPU time.
BATCH_BYTES = 8 << 20
PARQUET_SUFFIXES = (".parquet", ".pq")
NOT_BLANK = re.compile(rb"\S")
# Warnings read_spectra gives about the rows of one batch; gathered over the whole file here instead.
PER_BATCH_WARNINGS = re.compile(r"ids appear more than once|rows have reflectance far outside|empty rows were skipped")
EMPTY_ROWS = re.compile(r"^(\d+) empty rows were skipped$")
TEXT_CODECS = (  # leading bytes of text that is not UTF-8 or latin-1: transcoded to UTF-8 as it streams
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)

Say = Callable[[str], None]


def is_parquet(path: str | Path) -> bool:
    return str(path).lower().endswith(PARQUET_SUFFIXES)


# --- reading -------------------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """One batch of the file as a validated table. Its row-number ids (a file without an id column) are the file's;
    its problems keep the batch's own row numbers (they index its rows): problem_lines gives the file's."""

    offset: int  # data rows before this batch
    table: SpectraTable
    bytes_read: int  # of the input so far, for the progress bar

    def problem_lines(self) -> list[str]:
        """Each row problem as one line, with the file's row number (and row-number id)."""
        return [
            dataclasses.replace(p, row=p.row + self.offset, id=self.table.ids[p.row - 1]).message
            if self.table.id_column is None
            else dataclasses.replace(p, row=p.row + self.offset).message
            for p in self.table.problems
        ]


def csv_blocks(stream: BinaryIO, batch_bytes: int = BATCH_BYTES) -> Iterator[tuple[bytes, bytes, int]]:
    """(header line, block of whole lines, input bytes read so far) for each block of the CSV; at least one block,
    so that a file without data rows gets read_spectra's own message.

    Blocks end at a line break, so no row is split between two batches. UTF-16 and UTF-32 are re-encoded to UTF-8
    on the way; other files go through as they are (read_spectra tells UTF-8 from latin-1 per block).
    """
    first = stream.read(batch_bytes)
    decode = _transcoder(first)
    pending, consumed = decode(first, not first), len(first)
    bom = 3 if pending.startswith(b"\xef\xbb\xbf") else 0
    while (header := header_line(pending, bom)) is None:  # a header longer than a block
        chunk = stream.read(batch_bytes)
        if not chunk:  # no line break after the header: read_spectra says what is wrong
            yield b"", pending, consumed
            return
        consumed += len(chunk)
        pending += decode(chunk, False)
    header, header_end = header
    pending, yielded = pending[header_end:], False
    while True:
        chunk = stream.read(batch_bytes)
        consumed += len(chunk)
        pending += decode(chunk, not chunk)
        if not chunk:
            if NOT_BLANK.search(pending) or not yielded:
                yield header, pending, consumed
            return
        cut = _last_line_break(pending)
        if cut > 0 and NOT_BLANK.search(pending, 0, cut):
            yield header, pending[:cut], consumed
            pending, yielded = pending[cut:], True


def _transcoder(head: bytes) -> Callable[[bytes, bool], bytes]:
    for mark, codec in TEXT_CODECS:
        if head.startswith(mark):
            return _incremental(codec)
    if b"\x00" in head[:4096]:
        even, odd = head[:4096:2], head[1:4096:2]
        if len(odd) >= 2 and odd.count(0) == len(odd) and even.count(0) == 0:
            return _incremental("utf-16-le")
        if len(even) >= 2 and even.count(0) == len(even) and odd.count(0) == 0:
            return _incremental("utf-16-be")
    return lambda data, final: data


def _incremental(codec: str) -> Callable[[bytes, bool], bytes]:
    decoder = codecs.getincrementaldecoder(codec)()

    def decode(data: bytes, final: bool) -> bytes:
        try:
            return decoder.decode(data, final).encode("utf-8")
        except UnicodeError:
            raise SpectraError(f"the file starts like {codec.upper()} text but is not valid {codec.upper()}") from None

    return decode


def header_line(text: bytes, bom: int) -> tuple[bytes, int] | None:
    """The first non-blank line (after the UTF-8 byte-order mark, kept) with a LF, and where it ends in `text`;
    None while `text` holds no whole line."""
    first = NOT_BLANK.search(text, bom)
    if first is None:
        return None
    ends = [end for end in (text.find(b"\n", first.start()), text.find(b"\r", first.start())) if end >= 0]
    if not ends:
        return None
    return text[:bom] + text[first.start() : min(ends)] + b"\n", min(ends) + 1


def _last_line_break(data: bytes) -> int:
    """Where to cut after the last whole line: after the last LF, else after the last CR (files with CR lines)."""
    cut = data.rfind(b"\n")
    if cut < 0:
        cut = data.rfind(b"\r")
        if cut == len(data) - 1:  # a CR at the very end may be the first half of a CRLF
            cut = data.rfind(b"\r", 0, cut)
    return cut + 1


Reader = Callable[[bytes], SpectraTable]


def read_block(header: bytes, block: bytes, offset: int, read: Reader = read_spectra) -> SpectraTable:
    """One block of whole lines under the file's header, read and validated as a file of its own, with row numbers
    (and row-number ids, in a file without an id column) shifted by the `offset` rows before it."""
    try:
        table = read(header + block)
    except SpectraError as error:
        raise SpectraError([_shift_rows(problem, offset) for problem in error.problems]) from None
    return shifted(table, offset)


def shifted(table: SpectraTable, offset: int) -> SpectraTable:
    """Row-number ids (a file without an id column) counted from the file's first row. The table's problems keep
    their rows within the batch (they index its rows); Batch.problem_lines gives them with the file's row numbers."""
    if offset and table.id_column is None:
        table.ids = [str(offset + i + 1) for i in range(table.n_rows)]
    return table


def _shift_rows(message: str, offset: int) -> str:
    return re.sub(r"\brow (\d+)", lambda m: f"row {int(m.group(1)) + offset}", message) if offset else message


def csv_batches(path: str | Path, batch_bytes: int = BATCH_BYTES, read: Reader = read_spectra) -> Iterator[Batch]:
    offset = 0
    with open(path, "rb") as stream:
        for header, block, consumed in csv_blocks(stream, batch_bytes):
            table = read_block(header, block, offset, read)
            yield Batch(offset, table, consumed)
            offset += table.n_rows


def parquet_batches(path: str | Path, batch_bytes: int = BATCH_BYTES, read: Reader = read_spectra) -> Iterator[Batch]:
    """Record batches of a Parquet file, each read like a CSV block (parquet_block)."""
    parquet = pq.ParquetFile(path)
    columns = len(parquet.schema_arrow)
    rows_per_batch = max(1, batch_bytes // (10 * max(columns, 1)))  # about 10 bytes per value as CSV text
    offset, done = 0, 0
    total = parquet.metadata.num_rows or 1
    size = Path(path).stat().st_size
    for record_batch in parquet.iter_batches(batch_size=rows_per_batch):
        table = read_block(*parquet_block(record_batch), offset, read)
        done += record_batch.num_rows
        yield Batch(offset, table, int(size * done / total))
        offset += table.n_rows


def parquet_block(data: pa.RecordBatch | pa.Table) -> tuple[bytes, bytes]:
    """Parquet rows as (header, block) of CSV text: a Parquet file then gets exactly the checks and messages of a
    CSV one (missing, non-numeric and infinite values, flat spectra, band names). Floats are written in their
    shortest exact form, so they read back as the same numbers."""
    from pyarrow import csv as pacsv

    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    text = pa.BufferOutputStream()
    pacsv.write_csv(table, text, pacsv.WriteOptions(quoting_style="needed"))
    content = text.getvalue().to_pybytes()
    header_end = content.index(b"\n") + 1
    return content[:header_end], content[header_end:]


def batches(path: str | Path, batch_bytes: int = BATCH_BYTES, read: Reader = read_spectra) -> Iterator[Batch]:
    """The file's batches, CSV or Parquet by its suffix. `read` turns CSV bytes into a validated table."""
    return (parquet_batches if is_parquet(path) else csv_batches)(path, batch_bytes, read)


def read_ahead(items: Iterator[Batch], depth: int = 1) -> Iterator[Batch]:
    """Read the next batch in a thread while this one is scored: pyarrow's parser and the models both release the
    GIL, so on two cores reading and scoring overlap. `depth` batches wait at most (bounded memory)."""
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def hand_over(item) -> bool:
        """Queue the item unless the consumer stopped (then it is not waited on); False when it stopped."""
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(done)
        except BaseException as error:  # handed to the consumer, raised there
            hand_over(error)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = waiting.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


# --- writing -------------------------------------------------------------------------------------------------------


class ResultsWriter:
    """Appends each batch's results to a CSV or a Parquet file. The file appears under its name only when complete:
    it is written beside it and renamed at the end (a stopped run leaves no half file that looks finished)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.parquet = is_parquet(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = None if self.parquet else open(self.partial, "wb")  # noqa: SIM115 (closed in close/abort)
        self._writer: pq.ParquetWriter | None = None
        self._header: bytes | None = None

    def write(self, results: pd.DataFrame) -> None:
        results = export_frame(results)  # rounded as every saved results file is (ppb to the unit)
        if self.parquet:
            self._write_parquet(results)
            return
        content = results_csv(results)
        header = content[: content.index(b"\n") + 1]
        if self._header is None:
            self._header = header
            self._file.write(content)
        else:
            self._file.write(content[len(header) :])

    def _write_parquet(self, results: pd.DataFrame) -> None:
        if self._writer is None:
            table = pa.Table.from_pandas(results, preserve_index=False)
            # Columns empty in the first batch (no lot, no verdict reason) would be typed null: text, for all.
            schema = pa.schema(
                [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            ).remove_metadata()
            self._writer = pq.ParquetWriter(self.partial, schema)
        table = pa.Table.from_pandas(results, schema=self._writer.schema, preserve_index=False)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()
        self.partial.replace(self.path)

    def abort(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            if self._file is not None:
                self._file.close()
        finally:
            self.partial.unlink(missing_ok=True)


# --- what the whole file says --------------------------------------------------------------------------------------


@dataclass
class Summary:
    """What a streamed run found, gathered batch by batch (small whatever the file's size)."""

    rows: int = 0
    scored: int = 0
    batches: int = 0
    id_column: str = "row"
    warnings: list[str] = field(default_factory=list)  # about the whole file, said once
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)  # backend -> verdict -> count
    out_of_domain: dict[str, int] = field(default_factory=dict)  # backend -> scored spectra outside its domain
    without_lot: int = 0  # rows of a file with a lot column whose lot cell is empty: in no lot's verdict
    lots: pd.DataFrame | None = None
    history: ScoredRun | None = None  # the run, when it was small enough to keep for the history
    thresholds: dict[str, Thresholds | None] = field(default_factory=dict)  # per model with verdicts
    _id_hashes: list[np.ndarray] = field(default_factory=list, repr=False)
    _far_rows: list[int] = field(default_factory=list, repr=False)
    _far_count: int = 0
    _empty_rows: int = 0
    _lot_parts: list[Lots] = field(default_factory=list, repr=False)
    _history_parts: list[ScoredRun] | None = field(default_factory=list, repr=False)

    def add(self, batch: Batch, screened: Screened, keep_rows: int) -> None:
        table, run, decisions = batch.table, screened.run, screened.decisions
        if self.batches == 0:
            self.id_column = run.id_column
            self.thresholds = decisions.thresholds
            self.warnings = [w for w in table.warnings if not PER_BATCH_WARNINGS.search(w)]
        self.batches += 1
        self.rows += table.n_rows
        self.scored += int(table.scorable.sum())
        for warning in table.warnings:
            if match := EMPTY_ROWS.match(warning):
                self._empty_rows += int(match.group(1))
        if table.id_column is not None:  # 8 bytes per row, not the ids themselves
            self._id_hashes.append(pd.util.hash_array(np.asarray(table.ids, dtype=object)))
        self._note_far_rows(table, batch.offset)
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
            self._lot_parts.append(Lots([run.lots[i] for i in keep], [str(run.ids[i]) for i in keep], verdicts))
        if self._history_parts is not None:
            if self.rows <= keep_rows:
                self._history_parts.append(run)
            else:  # too many rows to keep: the run is not recorded row by row
                self._history_parts = None

    def merge(self, part: Summary, offset: int) -> None:
        """Add the summary of a part of the file scored on its own (a Dask partition) that starts `offset` rows in;
        the parts must come in file order."""
        if self.batches == 0:
            self.id_column, self.warnings = part.id_column, list(part.warnings)
        self.batches += part.batches
        self.rows += part.rows
        self.scored += part.scored
        self._empty_rows += part._empty_rows
        self._id_hashes += part._id_hashes
        self._far_count += part._far_count
        self._far_rows += [offset + row for row in part._far_rows][: MAX_LISTED - len(self._far_rows)]
        for backend, counts in part.verdicts.items():
            total = self.verdicts.setdefault(backend, dict.fromkeys(VERDICTS, 0))
            for verdict, n in counts.items():
                total[verdict] = total.get(verdict, 0) + n
        for backend, n in part.out_of_domain.items():
            self.out_of_domain[backend] = self.out_of_domain.get(backend, 0) + n
        self.without_lot += part.without_lot
        self._history_parts = None

    def _note_repeated_ids(self) -> None:
        """Ids seen more than once, found from their hashes with two arrays of 8 bytes a row (np.unique with
        indices and counts would take five: 40 MB at a million rows)."""
        hashes = np.concatenate(self._id_hashes)
        self._id_hashes = []
        ordered = np.sort(hashes)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        if not repeated.size:
            return
        positions = np.flatnonzero(np.isin(hashes, repeated))
        _, first = np.unique(hashes[positions], return_index=True)
        rows = np.sort(positions[first])[:MAX_LISTED] + 1
        more = " and more" if len(repeated) > MAX_LISTED else ""
        self.warnings.append(
            f"{len(repeated)} ids appear more than once (first seen at rows {', '.join(map(str, rows))}{more})"
        )

    def _note_far_rows(self, table: SpectraTable, offset: int) -> None:
        low, high = REFLECTANCE_RANGE
        with np.errstate(invalid="ignore"):
            far = (table.X < low - REFLECTANCE_TOLERANCE) | (table.X > high + REFLECTANCE_TOLERANCE)
        rows = np.flatnonzero((far & np.isfinite(table.X)).any(axis=1))
        self._far_count += len(rows)
        self._far_rows += [offset + int(r) + 1 for r in rows[: MAX_LISTED - len(self._far_rows)]]

    def finish(self, backends: list[str]) -> None:
        if self._id_hashes:
            self._note_repeated_ids()
        if self._far_count:
            low, high = REFLECTANCE_RANGE
            more = f" and {self._far_count - len(self._far_rows)} more" if self._far_count > len(self._far_rows) else ""
            self.warnings.append(
                f"{self._far_count} rows have reflectance far outside [{low:g}, {high:g}] (rows "
                f"{', '.join(map(str, self._far_rows))}{more}): check that the file holds reflectance, not percent or "
                "raw counts"
            )
        if self._empty_rows:
            self.warnings.append(f"{self._empty_rows} empty rows were skipped")
        if self._lot_parts:
            parts = self._lot_parts
            verdicts = {b: np.concatenate([p.verdicts[b] for p in parts]) for b in parts[0].verdicts}
            self.lots = Lots(
                [lot for p in parts for lot in p.lots], [i for p in parts for i in p.ids], verdicts
            ).table()
        if self._history_parts:
            self.history = ScoredRun.concat(self._history_parts)
        self._id_hashes, self._lot_parts, self._history_parts = [], [], None


# --- the run -------------------------------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on a terminal (rows, rows/s, ETA); silent when stderr is not a terminal."""

    def __init__(self, total_bytes: int, stream=None):
        self.stream = stream or sys.stderr
        self.total = max(total_bytes, 1)
        self.started = time.perf_counter()
        self.shown = False
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, rows: int, bytes_read: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        fraction = min(bytes_read / self.total, 1.0)
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
        bar = "#" * int(fraction * 30)
        self.stream.write(
            f"\r[{bar:<30}] {fraction:4.0%}  {rows:,} rows  {rows / max(elapsed, 1e-9):,.0f} rows/s  ETA {eta:4.0f} s "
        )
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Blank the bar's line, so a warning printed next starts on a clean line (the bar comes back after it)."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.shown = False

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


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
) -> Summary:
    """Score the batches of a file (batches(), read_ahead()) into `writer`, one at a time.

    `say` gets one line per row problem as each batch comes (row numbers are the file's). Results are kept in the
    summary, for the history, only while the file has at most `keep_rows` rows. Raises SpectraError (and
    BandMismatchError) for a file that cannot be scored at all; the output is then not written. Each batch goes
    through the one pipeline (scoring.pipeline.screen); the caller records the kept run (summary.history).
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
