"""Read and validate a spectra CSV into one typed table.

Nothing is dropped: a row with a bad value stays in the table, is marked with its problems and is left out of
fitting and scoring. Problems that make the whole file unusable raise `SpectraError`, and so does anything that
would otherwise give a silent wrong answer: two columns naming one band, two target columns, a quote that is never
closed (it would swallow the rows after it). Files are UTF-8, UTF-16/32 with a byte-order mark (UTF-16 without
one) or latin-1; lines end only at CR, LF or CRLF. The file is kept as bytes (no decoded copy of a 150 MB upload)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from don_predictor.config import ID_COLUMN, LOT_COLUMNS, TARGET_COLUMN
from don_predictor.spectra.encoding import whole_text
from don_predictor.spectra.file_warnings import RENAMED_ID, FileWarning, find_file_warnings
from don_predictor.spectra.header import header_span
from don_predictor.spectra.table import (
    MAX_LISTED,
    RowProblem,
    SpectraError,
    SpectraTable,
    band_key,
    is_band,
    listing,
    output_id_name,
)
from don_predictor.spectra.validate import hidden_character_problems, numeric_block, numeric_target

SAMPLE_BYTES = 256 * 1024  # what the delimiter and decimal-comma guesses look at after the header


def read_spectra(
    source: str | Path | bytes | BinaryIO, *, require_target: bool = False, max_rows: int | None = None
) -> SpectraTable:
    """Read a spectra CSV (path, bytes or binary file object) into a validated SpectraTable.

    With `max_rows`, a longer file is refused after counting at most that many rows, before any value is parsed.
    """
    data, start, encoding = whole_text(_read_bytes(source))
    header_start, header_end = _header_span(data, start)
    header_line = data[header_start:header_end].decode(encoding).lstrip("\ufeff")
    delimiter = _sniff_delimiter(header_line)
    names = _header_names(header_line, delimiter)
    body_sample = _sample(data, header_end, encoding)
    decimal_comma = delimiter != "," and re.search(r"\d,\d", body_sample) is not None

    band_names = [name for name in names if is_band(name)]
    targets = [name for name in names if name.strip().lower() == TARGET_COLUMN]
    target_column = targets[0] if targets else None
    other = [name for name in names if name not in band_names and name not in targets]
    lot_column = next((name for name in other if name.strip().lower() in LOT_COLUMNS), None)
    candidates = [name for name in other if name != lot_column]
    id_column = next((name for name in candidates if name.lower() == ID_COLUMN), candidates[0] if candidates else None)
    ignored = [name for name in candidates if name != id_column and not name.startswith("_unnamed_")]

    if not band_names:
        raise SpectraError(
            "no band columns: band columns are named by a number (a band index such as 0..447, or a "
            f"wavelength in nm); the header has {listing(names)}"
        )
    _check_one_column_per_band(band_names)
    if len(targets) > 1:
        raise SpectraError(f"the columns {listing(targets)} all hold the target {TARGET_COLUMN!r}: keep one")
    if require_target and target_column is None:
        raise SpectraError(f"no '{TARGET_COLUMN}' column: training needs the measured DON of every sample")
    if max_rows is not None:
        _check_row_count(data, header_start, names, delimiter, encoding, max_rows)

    text_columns = [name for name in (id_column, lot_column) if name]
    parsed = _parse(data, header_start, names, delimiter, decimal_comma, text_columns, encoding, band_names)
    parsed, blank_rows = _drop_blank_rows(parsed)
    frame, invalid_rows = parsed.frame, parsed.invalid_rows
    n_rows = parsed.n_rows + len(invalid_rows)
    if n_rows == 0:
        raise SpectraError("the file has a header but no data rows")
    if max_rows is not None and n_rows > max_rows:
        raise SpectraError(f"the file has {n_rows:,} rows; this app accepts at most {max_rows:,} (DON_MAX_UPLOAD_ROWS)")

    parsed_positions = np.setdiff1d(np.arange(n_rows), list(invalid_rows))
    ids = _ids(frame, id_column, parsed_positions, invalid_rows, n_rows, names, delimiter)
    lots = None
    if lot_column is not None:
        lots = [
            None if value is None or value.startswith("\x00") else value
            for value in _ids(frame, lot_column, parsed_positions, invalid_rows, n_rows, names, delimiter, "\x00")
        ]
    problems: list[RowProblem] = []
    X = numeric_block(frame, band_names, decimal_comma, parsed_positions, ids, problems, parsed.bands)
    if len(parsed_positions) < n_rows:  # rows pyarrow could not split into fields: all NaN, in their place
        X = _placed(X, parsed_positions, n_rows)
    target = None
    if target_column is not None:
        target = np.full(n_rows, np.nan)
        target[parsed_positions] = numeric_target(
            frame, target_column, decimal_comma, parsed_positions, ids, problems, require_target
        )
    del frame, parsed
    with np.errstate(all="ignore"):  # 1e300 and -1e300 in one row overflow the range: still not flat
        flat = np.isfinite(X).all(axis=1) & (np.ptp(X, axis=1) == 0) if X.shape[1] > 1 else np.zeros(n_rows, bool)
    for position in np.flatnonzero(flat):  # a dead or saturated sensor: SNV and the models cannot use it
        value = f"{X[position, 0]:g}"
        problems.append(RowProblem(int(position) + 1, ids[position], "(all bands)", value, "the spectrum is flat"))
    for position, raw in sorted(invalid_rows.items()):
        n_fields = len(_fields(raw, delimiter))
        problems.append(
            RowProblem(
                position + 1,
                ids[position],
                "(whole row)",
                "",
                f"the row has {n_fields} fields but the header has {len(names)}",
            )
        )
    problems += hidden_character_problems(ids, id_column, lots, lot_column)
    problems.sort(key=lambda p: (p.row, not p.blocks_scoring))

    warnings = find_file_warnings(ids, id_column, ignored, X, blank_rows)
    output_id = output_id_name(id_column)
    if id_column is not None and output_id != id_column:
        warnings.append(FileWarning(RENAMED_ID, {"column": id_column, "output": output_id}))
    return SpectraTable(ids, id_column, band_names, X, target, problems, warnings, lot_column, lots)


def _placed(values: np.ndarray, positions: np.ndarray, n_rows: int) -> np.ndarray:
    out = np.full((n_rows, *values.shape[1:]), np.nan)
    out[positions] = values
    return out


# --- reading -----------------------------------------------------------------------------------------------------


def _read_bytes(source: str | Path | bytes | BinaryIO) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, (bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    data = source.read()
    return data.encode("utf-8") if isinstance(data, str) else data


def _header_span(data: bytes, start: int) -> tuple[int, int]:
    """Where the header line (the first line that is not blank) starts and ends."""
    span = header_span(data, start)
    if span is None:
        raise SpectraError("the file is empty")
    line_start, line_end = span
    return line_start, len(data) if line_end is None else line_end


def _sample(data: bytes, header_end: int, encoding: str) -> str:
    """The first 20 lines under the header, as text."""
    text = data[header_end : header_end + SAMPLE_BYTES].decode(encoding, errors="replace")
    return "\n".join(re.split(r"\r\n|\n|\r", text)[1:21])


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _fields(line: str, delimiter: str) -> list[str]:
    """One line split into fields as a CSV reader does; a line the csv module refuses is split plainly."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # e.g. a field longer than csv.field_size_limit()
        return line.split(delimiter)


def _header_names(header_line: str, delimiter: str) -> list[str]:
    raw = _fields(header_line, delimiter)
    names = [name.strip() or f"_unnamed_{i + 1}" for i, name in enumerate(raw)]
    seen: set[str] = set()
    duplicated = [name for name in names if name in seen or seen.add(name)]
    if duplicated:
        raise SpectraError(f"the header names {listing(sorted(set(duplicated)))} more than once")
    return names


def _check_one_column_per_band(band_names: list[str]) -> None:
    """'5' and '5.0' (or '05', '5e0') name one band: the later column would silently replace the earlier one."""
    by_band: dict[float, list[str]] = {}
    for name in band_names:
        by_band.setdefault(band_key(name), []).append(name)
    clashes = [names for names in by_band.values() if len(names) > 1]
    if not clashes:
        return
    problems = [
        f"the columns {listing(names)} name the same band ({band_key(names[0]):g}): keep one of them"
        for names in clashes[:MAX_LISTED]
    ]
    if len(clashes) > MAX_LISTED:
        problems.append(f"and {len(clashes) - MAX_LISTED} more bands named by more than one column")
    raise SpectraError(problems)


def _read_options(names: list[str], encoding: str) -> pacsv.ReadOptions:
    # Line numbers of bad rows are only known to a single-threaded reader.
    return pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False, encoding=encoding)


def _parse_options(delimiter: str, invalid_row_handler) -> pacsv.ParseOptions:
    # newlines_in_values: a quote left open in a big file is then reported by _refuse_values_over_several_lines,
    # instead of pyarrow's "CSV parser got out of sync with chunker".
    return pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid_row_handler)


def _check_row_count(
    data: bytes, header_start: int, names: list[str], delimiter: str, encoding: str, max_rows: int
) -> None:
    """Refuse a file of more than max_rows rows after counting at most max_rows + 1 of them, parsing no value."""
    if data.count(b"\n", header_start) + data.count(b"\r", header_start) <= max_rows:
        return  # fewer line breaks than allowed rows: it cannot be too long
    counted = 0

    def count_invalid(row: pacsv.InvalidRow) -> str:
        nonlocal counted
        counted += 1
        return "skip"

    reader = pacsv.open_csv(
        pa.BufferReader(pa.py_buffer(data)[header_start:]),
        read_options=_read_options(names, encoding),
        parse_options=_parse_options(delimiter, count_invalid),
        convert_options=pacsv.ConvertOptions(include_columns=names[:1], column_types={names[0]: pa.binary()}),
    )
    try:
        for batch in reader:
            counted += batch.num_rows
            if counted > max_rows:
                raise SpectraError(
                    f"the file has more than {max_rows:,} rows; this app accepts at most {max_rows:,} "
                    "(DON_MAX_UPLOAD_ROWS)"
                )
    except pa.ArrowInvalid:
        return  # the full read says what is wrong, in its own words
    finally:
        reader.close()


def _parse(
    data: bytes,
    header_start: int,
    names: list[str],
    delimiter: str,
    decimal_comma: bool,
    text_columns: list[str],
    encoding: str,
    band_names: list[str] = (),
) -> Parsed:
    # Bands read as float64 straight away: pyarrow's type inference is a third of the parse. A cell that is not a
    # number fails that read, and the file is read again with inferred types so that each such cell gets its message.
    text = {name: pa.string() for name in text_columns}
    decimal_point = "," if decimal_comma else "."
    typed = pacsv.ConvertOptions(
        column_types=dict.fromkeys(band_names, pa.float64()) | text, decimal_point=decimal_point
    )
    inferred = pacsv.ConvertOptions(column_types=text, decimal_point=decimal_point)
    try:
        return _parse_as(data, header_start, names, delimiter, encoding, typed, band_names)
    except _NotAllNumbers:
        return _parse_as(data, header_start, names, delimiter, encoding, inferred)


@dataclass
class Parsed:
    """The rows pyarrow could split into fields: the band values as one float64 block when every band column read
    as numbers (`bands`, rows x bands, C order), and the other columns (all of them when `bands` is None) as a frame.
    The rows it could not split are kept apart (`invalid_rows`: data position -> raw line)."""

    frame: pd.DataFrame
    bands: np.ndarray | None
    invalid_rows: dict[int, str]

    @property
    def n_rows(self) -> int:
        return len(self.frame)


class _NotAllNumbers(Exception):
    """A band cell that float64 cannot hold (text, a decimal comma in quotes, a padded number)."""


def _parse_as(
    data: bytes,
    header_start: int,
    names: list[str],
    delimiter: str,
    encoding: str,
    convert: pacsv.ConvertOptions,
    typed_bands: list[str] = (),
) -> Parsed:
    """Parse with `convert`; with `typed_bands` (read as float64), a cell that is not a number raises
    _NotAllNumbers, and the bands come back as one block straight from Arrow (no pandas copy of 448 columns)."""
    may_fail_on_a_value = bool(typed_bands)
    invalid: list[tuple[int, str]] = []

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.text))
        return "skip"

    parse_options = _parse_options(delimiter, keep_invalid)
    try:  # from the header on: skip_rows=1 must skip the header, not a blank line above it
        parsed = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[header_start:]),
            read_options=_read_options(names, encoding),
            parse_options=parse_options,
            convert_options=convert,
        )
    except pa.ArrowInvalid as error:
        if may_fail_on_a_value and "conversion error" in str(error):
            raise _NotAllNumbers from None
        if "straddl" in str(error) or "out of sync" in str(error):  # one value longer than pyarrow's block
            row = _open_quote_row(data, header_start, delimiter, encoding)
            raise SpectraError(_open_quote_message(f"row {row}" if row else "a row")) from None
        raise SpectraError(f"the file is not a readable CSV: {_first_line(str(error))}") from None
    # pyarrow counts non-blank rows from 1 with the header as row 1; data positions start at 0.
    invalid_rows = {number - 2: raw for number, raw in invalid}
    _refuse_values_over_several_lines(parsed, invalid_rows)
    bands = _band_block(parsed, typed_bands) if typed_bands else None
    n_parsed = parsed.num_rows
    if typed_bands:  # the other columns, by position (drop_columns removes one column at a time: 1 s per 100k rows)
        band_set = set(typed_bands)
        parsed = parsed.select([i for i, name in enumerate(parsed.column_names) if name not in band_set])
    frame = parsed.to_pandas(split_blocks=True, self_destruct=True)
    if frame.shape[1] == 0:  # only band columns: the frame still counts the rows
        frame = pd.DataFrame(index=pd.RangeIndex(n_parsed))
    del parsed
    pa.default_memory_pool().release_unused()  # give the parser's buffers back, not keep them for the next upload
    return Parsed(frame, bands, invalid_rows)


def _band_block(parsed: pa.Table, band_names: list[str]) -> np.ndarray:
    """The float64 band columns as one rows x bands array in C order (missing values as NaN), filled record batch
    by record batch: no combined copy of the whole table beside it."""
    block = np.empty((parsed.num_rows, len(band_names)))
    start = 0
    for batch in parsed.select(list(band_names)).to_batches():
        block[start : start + batch.num_rows] = batch.to_tensor(null_to_nan=True, row_major=True)
        start += batch.num_rows
    return block


def _refuse_values_over_several_lines(parsed: pa.Table, invalid_rows: dict[int, str]) -> None:
    """A quote that is never closed swallows the lines after it into one value: rows would silently vanish."""
    found = {position: None for position, raw in invalid_rows.items() if "\n" in raw or "\r" in raw}
    parsed_positions = None
    for name, values in zip(parsed.column_names, parsed.columns, strict=True):
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue
        spans = pc.fill_null(pc.match_substring_regex(values, "[\r\n]"), False).to_numpy(zero_copy_only=False)
        if spans.any():
            if parsed_positions is None:
                parsed_positions = np.setdiff1d(np.arange(parsed.num_rows + len(invalid_rows)), list(invalid_rows))
            found.setdefault(int(parsed_positions[np.flatnonzero(spans)[0]]), name)
    if not found:
        return
    position = min(found)
    raise SpectraError(
        _open_quote_message(f"row {position + 1}" + (f", column {found[position]!r}" if found[position] else ""))
    )


def _open_quote_message(where: str) -> str:
    return (
        f"{where}: a quoted value runs over several lines, so the rows after it would be lost; most likely a "
        'quote (") is never closed: close it or remove it'
    )


def _open_quote_row(data: bytes, header_start: int, delimiter: str, encoding: str) -> int | None:
    """The data row where a value starts to run over several lines (only called when pyarrow gave up on it)."""
    text = io.TextIOWrapper(io.BytesIO(data[header_start:]), encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=delimiter)
    row = 0
    try:
        next(reader, None)
        last_line = reader.line_num
        for record in reader:
            row += bool(record)
            if reader.line_num - last_line > 1:
                return row
            last_line = reader.line_num
    except csv.Error:  # the runaway value passed csv.field_size_limit()
        return row + 1
    return None


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0][:300] if message.strip() else "unknown reason"


def _drop_blank_rows(parsed: Parsed) -> tuple[Parsed, int]:
    """Rows with no value at all (a spreadsheet's trailing ';;;;' lines, a line of spaces) carry nothing to lose:
    drop them."""
    frame, invalid_rows = parsed.frame, parsed.invalid_rows
    blank = np.isnan(parsed.bands).all(axis=1) if parsed.bands is not None else np.ones(len(frame), dtype=bool)
    for name in frame.columns:
        if not blank.any():
            break
        column = frame[name]
        empty = column.isna()
        if not pd.api.types.is_numeric_dtype(column.dtype):
            empty |= column.astype("string").str.strip().eq("").fillna(True)
        blank &= empty.to_numpy()
    blank_invalid = {position for position, raw in invalid_rows.items() if not raw.strip()}
    if not blank.any() and not blank_invalid:
        return parsed, 0
    n_rows = len(frame) + len(invalid_rows)
    parsed_positions = np.setdiff1d(np.arange(n_rows), list(invalid_rows))
    blank_positions = set(parsed_positions[blank].tolist()) | blank_invalid
    kept = [p for p in range(n_rows) if p not in blank_positions]
    new_position = {old: new for new, old in enumerate(kept)}
    invalid = {new_position[p]: raw for p, raw in invalid_rows.items() if p not in blank_invalid}
    bands = parsed.bands[~blank] if parsed.bands is not None else None
    return Parsed(frame.loc[~blank].reset_index(drop=True), bands, invalid), len(blank_positions)


def _ids(
    frame: pd.DataFrame,
    id_column: str | None,
    parsed_positions: np.ndarray,
    invalid_rows: dict[int, str],
    n_rows: int,
    names: list[str],
    delimiter: str,
    empty_prefix: str = "",
) -> list[str]:
    ids = [f"{empty_prefix}{i + 1}" for i in range(n_rows)]  # without an id column, row numbers serve
    if id_column is None:
        return ids
    for position, value in zip(parsed_positions, frame[id_column].tolist(), strict=True):
        if value is not None and not pd.isna(value) and str(value).strip():
            ids[position] = str(value).strip()
    id_index = names.index(id_column)
    for position, raw in invalid_rows.items():
        fields = _fields(raw, delimiter)
        if id_index < len(fields) and fields[id_index].strip():
            ids[position] = fields[id_index].strip()
    return ids
