"""A spectra file of any size as batches of validated tables, read as uploads are (spectra.read_spectra).

A CSV is cut into blocks of whole lines (re-encoded as UTF-8 on the way when it is UTF-16/32); each block, under
the file's header, is read and validated as a file of its own. A Parquet file is read a record batch at a time,
each written as CSV text, so that it gets exactly a CSV's checks and messages. Row numbers in messages are the
file's own (the first data row is row 1): each batch's are shifted by the rows before it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from don_predictor.spectra.encoding import streamed_text, utf8_bom_length
from don_predictor.spectra.header import NOT_BLANK, header_line
from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.table import SpectraError, SpectraTable

# Bytes of CSV per batch: about 1,800 spectra of 448 bands. Per-batch costs (pandas, one call per tree) stay small,
# and the batch's copies (text, Arrow, float64, preprocessed, results; one batch read ahead) keep the process under
# 1 GB with both models loaded (they take 740 MB): measured on 2 cores, peak RSS 1,027 MB with 16 MB batches, 920 MB
# with 8 MB, for the same CPU time.
BATCH_BYTES = 8 << 20
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str | Path) -> bool:
    return str(path).lower().endswith(PARQUET_SUFFIXES)


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
    decode = streamed_text(first)
    pending, consumed = decode(first, not first), len(first)
    bom = utf8_bom_length(pending)
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
