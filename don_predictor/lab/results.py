"""Lab results in: a CSV of measured DON per sample, each row checked, matched to the history's scored rows by sample
id and kept beside the predictions. Every row of the file comes back with an outcome; re-uploading a file changes
nothing (a value already kept is `unchanged`; a different one is a `conflict` and is not written).

Columns: the sample id (`hsi_id`, or the id column the scored upload had: `id_column`), `vomitoxin_ppb` (required),
and optional `method`, `date` (ISO 8601, e.g. 2026-03-01), `uncertainty_ppb` and `run_id` (match that run only;
without it, the newest run that scored the id). Other columns (a filled-in worklist's) are ignored. When a run
scored the id on several rows (re-scans of one sample), the value is kept for each of them."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from don_predictor.config import ID_COLUMN, TARGET_COLUMN
from don_predictor.plain_text import visible
from don_predictor.spectra.encoding import whole_text
from don_predictor.spectra.table import FORMULA_PREFIXES, SpectraError
from don_predictor.store.history import tables as t
from don_predictor.store.history.db import writing
from don_predictor.store.history.store import plain_errors

RECORDED, UNCHANGED, UNMATCHED, CONFLICT, DUPLICATE, BAD = (
    "recorded",
    "unchanged",
    "unmatched",
    "conflict",
    "duplicate",
    "bad",
)
OPTIONAL = ("method", "date", "uncertainty_ppb", "run_id")
_AMBIGUOUS = re.compile(r"^-?\d{1,3},\d{3}$")  # "1,200": a thousands separator or a decimal comma?
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
MAX_PPB = 1e7  # 1 % of the grain's mass: far above any DON ever measured (the worst lots reach a few 100,000 ppb)
MAX_TEXT = 200  # method names and ids longer than this are refused: a cell pasted in the wrong place


class LabResultsError(ValueError):
    """The file cannot be read as lab results at all (no id or value column, not a CSV)."""


@dataclass(frozen=True)
class Result:
    """One checked row of the file: what it says, or its problems."""

    row: int  # 1-based data row, as the spectra reader counts them
    sample_id: str
    measured_ppb: float | None = None
    method: str | None = None
    measured_on: str | None = None
    uncertainty_ppb: float | None = None
    run_id: str | None = None
    problems: tuple[str, ...] = ()


@dataclass
class Outcome:
    row: int
    sample_id: str
    status: str
    message: str
    run_id: str | None = None
    matched_rows: int = 0


@dataclass
class Report:
    file_name: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def matched(self) -> int:
        """Rows of the file whose value is in the history now (new or already there)."""
        return self.count(RECORDED) + self.count(UNCHANGED)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(o.row, o.sample_id, o.status, o.run_id or "", o.matched_rows, o.message) for o in self.outcomes],
            columns=["row", "sample_id", "status", "run_id", "matched_rows", "message"],
        )

    def lines(self) -> list[str]:
        """One plain line per row of the file, then the totals."""
        out = [f"row {o.row}, id {_short(visible(o.sample_id))!r}: {o.status}: {o.message}" for o in self.outcomes]
        counts = ", ".join(f"{self.count(s)} {s}" for s in (RECORDED, UNCHANGED, UNMATCHED, CONFLICT, DUPLICATE, BAD))
        return [*out, f"{len(self.outcomes)} rows: {counts}"]


# --- reading -----------------------------------------------------------------------------------------------------


def read_results(data: bytes, id_column: str | None = None) -> list[Result]:
    """Every data row of the file, checked cell by cell (each bad cell named by row and column)."""
    frame = _csv_frame(data)
    columns = {str(c).strip().lower(): c for c in frame.columns}
    id_name = _id_column(columns, id_column)
    if TARGET_COLUMN not in columns:
        raise LabResultsError(f"the file has no {TARGET_COLUMN!r} column (the measured DON, in ppb)")
    out = []
    for i, record in enumerate(frame.to_dict("records"), start=1):
        # A short row leaves its last cells NaN: they are empty, not the text "nan".
        cell = {key: record[name].strip() if isinstance(record[name], str) else "" for key, name in columns.items()}
        problems: list[str] = []
        sample_id = cell[id_name.strip().lower()]
        if sample_id.startswith("'") and sample_id[1:].startswith(FORMULA_PREFIXES):
            sample_id = sample_id[1:]  # the quote our own worklist put before a formula-like id, for spreadsheets
        if not sample_id:
            problems.append(f"column {id_name!r}: no sample id")
        elif len(sample_id) > MAX_TEXT:
            problems.append(f"column {id_name!r}: an id of {len(sample_id)} characters is not a sample id")
        measured = _number(cell[TARGET_COLUMN], TARGET_COLUMN, problems, required=True)
        uncertainty = _number(cell.get("uncertainty_ppb", ""), "uncertainty_ppb", problems)
        method = cell.get("method", "") or None
        if method and len(method) > MAX_TEXT:
            problems.append(f"column 'method': {len(method)} characters is more than a method name ({MAX_TEXT})")
        out.append(
            Result(
                row=i,
                sample_id=sample_id,
                measured_ppb=measured,
                method=method,
                measured_on=_date(cell.get("date", ""), problems),
                uncertainty_ppb=uncertainty,
                run_id=cell.get("run_id", "") or None,
                problems=tuple(problems),
            )
        )
    return out


def _csv_frame(data: bytes) -> pd.DataFrame:
    text = _decode(data)
    if not text.strip():
        raise LabResultsError("the file is empty")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    names = [name.strip().lower() for name in next(csv.reader(io.StringIO(text), delimiter=delimiter), [])]
    if twice := sorted({name for name in names if name and names.count(name) > 1}):
        raise LabResultsError(
            f"the file has more than one column named {twice[0]!r} (names are compared without case): keep one"
        )
    try:
        # index_col=False: a trailing delimiter on the rows must not turn the id column into the index (cells past
        # the header's columns are not read; pandas' warning about them would reach the command line's stderr).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            options = {"dtype": str, "keep_default_na": False, "skip_blank_lines": True, "index_col": False}
            return pd.read_csv(io.StringIO(text), sep=delimiter, **options)
    except (pd.errors.ParserError, ValueError) as error:
        raise LabResultsError(f"the file cannot be read as CSV: {str(error).strip().splitlines()[0]}") from None


def _decode(data: bytes) -> str:
    """The file as text, its encoding found as the spectra reader finds it (BOM, UTF-16/32 with or without a mark,
    latin-1 when not UTF-8; binary files refused)."""
    try:
        text, start, encoding = whole_text(data)
    except SpectraError as error:
        raise LabResultsError(str(error)) from None
    return text[start:].decode("utf-8" if encoding == "utf8" else "latin-1")


def _id_column(columns: dict[str, str], id_column: str | None) -> str:
    for wanted in (id_column, ID_COLUMN):
        if wanted and wanted.strip().lower() in columns:
            return columns[wanted.strip().lower()]
    named = f"{id_column!r} or {ID_COLUMN!r}" if id_column else repr(ID_COLUMN)
    raise LabResultsError(f"the file has no sample id column: {named}")


def _number(raw: str, column: str, problems: list[str], required: bool = False) -> float | None:
    if not raw:
        if required:
            problems.append(f"column {column!r}: no value")
        return None
    if _AMBIGUOUS.match(raw):
        problems.append(f"column {column!r}: {raw!r} is ambiguous (a thousands separator or a decimal comma?)")
        return None
    text = raw.replace(",", ".") if _DECIMAL_COMMA.match(raw) else raw
    try:
        if not _PLAIN_NUMBER.match(text):  # float() also takes "1_000" and Arabic-Indic digits: not a lab's value
            raise ValueError(text)
        value = float(text)
    except ValueError:
        problems.append(f"column {column!r}: {visible(raw)!r} is not a number")
        return None
    if not np.isfinite(value) or value < 0:
        problems.append(f"column {column!r}: {raw!r} is not a concentration (a finite number, 0 or more)")
        return None
    if value > MAX_PPB:
        problems.append(f"column {column!r}: {raw!r} ppb is more than any DON a grain can hold ({MAX_PPB:,.0f} ppb)")
        return None
    return abs(value)  # -0 is 0


def _date(raw: str, problems: list[str]) -> str | None:
    """An ISO 8601 date (or date and time), kept as its ISO text; anything else is a bad cell."""
    if not raw:
        return None
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}", raw):
            when = pd.Timestamp(raw)
            if when.tz_localize(None) > pd.Timestamp.now() + pd.Timedelta(days=1):
                problems.append(f"column 'date': {visible(raw)!r} is in the future")
                return None
            return when.isoformat()
    except ValueError:
        pass
    problems.append(f"column 'date': {visible(raw)!r} is not a date (ISO 8601: 2026-03-01)")
    return None


# --- matching and keeping ----------------------------------------------------------------------------------------

_IN_CHUNK = 500  # ids per IN (...) list


@dataclass
class _Match:
    run_id: str
    positions: list[int]
    upload_values: list[float | None]  # the measured value the scored upload itself carried, per position


def record_results(
    db: str | Path, data: bytes, file_name: str, *, id_column: str | None = None, user: str | None = None
) -> Report:
    """Check, match and keep a lab results file; the report has one outcome per data row, in file order."""
    rows = read_results(data, id_column)
    report = Report(file_name)
    outcomes: dict[int, Outcome] = {}
    usable = []
    for result in rows:
        if result.problems:
            outcomes[result.row] = Outcome(result.row, result.sample_id, BAD, "; ".join(result.problems))
        else:
            usable.append(result)
    first = _dedupe(usable, outcomes)
    sha256 = hashlib.sha256(data).hexdigest()
    _match_and_keep(db, first, outcomes, file_name, sha256, user)
    report.outcomes = [outcomes[r.row] for r in rows]
    return report


def _dedupe(results: list[Result], outcomes: dict[int, Outcome]) -> list[Result]:
    """The first row of each (run, sample) in the file; repeats with the same value are `duplicate`, and every row
    of an id given different values is a `conflict` (which one is right is for the lab to say)."""
    by_sample: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_sample[result.sample_id].append(result)
    groups: dict[tuple, list[Result]] = defaultdict(list)
    for sample, rows_of_sample in by_sample.items():
        # A row without a run id goes to the newest run, which another row may name: then they are one sample.
        named = all(r.run_id for r in rows_of_sample)
        for r in rows_of_sample:
            groups[(r.run_id if named else None, sample)].append(r)
    kept = []
    for group in groups.values():
        head, rest = group[0], group[1:]
        rows = _listing([str(r.row) for r in group])
        if any(not _same(r.measured_ppb, head.measured_ppb) for r in rest):
            values = _listing([f"{r.measured_ppb:g}" for r in group])
            for r in group:
                message = f"the file gives this id different values on rows {rows} ({values} ppb): none kept"
                outcomes[r.row] = Outcome(r.row, r.sample_id, CONFLICT, message)
            continue
        kept.append(head)
        for r in rest:
            outcomes[r.row] = Outcome(r.row, r.sample_id, DUPLICATE, f"same value as row {head.row}: counted once")
    return kept


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _listing(items: list[str], listed: int = 10) -> str:
    """At most `listed` items and how many more: a message per row must not grow with the file (one id on 20,000
    rows made 4 GB of report)."""
    more = f" and {len(items) - listed:,} more" if len(items) > listed else ""
    return ", ".join(items[:listed]) + more


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and bool(np.isclose(a, b, rtol=1e-9, atol=1e-6))


@plain_errors
def _match_and_keep(
    db: str | Path,
    results: list[Result],
    outcomes: dict[int, Outcome],
    file_name: str,
    sha256: str,
    user: str | None,
) -> None:
    """In one write transaction: find each result's rows, compare with what is kept, insert what is new."""
    now = t.utc_now()
    with writing(db) as connection:
        matches = _find_rows(connection, results)
        stored = _stored_values(connection, [m for m in matches.values() if m is not None])
        new_rows = []
        for result in results:
            match = matches.get(result.row)
            if match is None:
                where = f" in run {result.run_id}" if result.run_id else ""
                message = f"no scored row with this id in the history{where}"
                outcomes[result.row] = Outcome(result.row, result.sample_id, UNMATCHED, message, result.run_id)
                continue
            outcome, missing = _compare(result, match, stored)
            outcomes[result.row] = outcome
            new_rows += [_row(result, match.run_id, p, file_name, sha256, now, user) for p in missing]
        if new_rows:
            table = t.lab_results
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(dialect.insert(table).on_conflict_do_nothing(), new_rows)


def _find_rows(connection, results: list[Result]) -> dict[int, _Match | None]:
    """Per file row: the run that scored its id (the given run, else the newest) and that run's rows of it."""
    s, r = t.samples, t.runs
    ids = sorted({result.sample_id for result in results})
    found: dict[str, list[tuple]] = defaultdict(list)
    for start in range(0, len(ids), _IN_CHUNK):
        query = (
            select(s.c.sample_id, s.c.run_id, s.c.position, s.c.measured_ppb, r.c.created_at)
            .join(r, r.c.run_id == s.c.run_id)
            .where(s.c.sample_id.in_(ids[start : start + _IN_CHUNK]), s.c.status == "ok")
        )
        for sample_id, run_id, position, measured, created in connection.execute(query):
            found[sample_id].append((created, run_id, position, measured))
    out: dict[int, _Match | None] = {}
    for result in results:
        candidates = [c for c in found.get(result.sample_id, []) if result.run_id in (None, c[1])]
        if not candidates:
            out[result.row] = None
            continue
        newest = max(candidates, key=lambda c: (c[0], c[1]))[1]
        mine = sorted((c[2], c[3]) for c in candidates if c[1] == newest)
        out[result.row] = _Match(newest, [p for p, _ in mine], [m for _, m in mine])
    return out


def _stored_values(connection, matches: list[_Match]) -> dict[tuple[str, int], float]:
    """The lab values already kept for the matched rows: (run, position) -> ppb."""
    res = t.lab_results
    keys = sorted({(m.run_id, p) for m in matches for p in m.positions})
    out: dict[tuple[str, int], float] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        query = select(res.c.run_id, res.c.position, res.c.measured_ppb).where(
            tuple_(res.c.run_id, res.c.position).in_(keys[start : start + _IN_CHUNK])
        )
        out.update({(run_id, position): value for run_id, position, value in connection.execute(query)})
    return out


def _compare(result: Result, match: _Match, stored: dict[tuple[str, int], float]) -> tuple[Outcome, list[int]]:
    """The row's outcome against what the history holds, and the positions to insert (none on a conflict)."""
    rows = len(match.positions)
    on = f"run {match.run_id}" + (f" ({rows} rows with this id)" if rows > 1 else "")
    for position, upload_value in zip(match.positions, match.upload_values, strict=True):
        kept = stored.get((match.run_id, position))
        for value, where in ((kept, "a lab value already kept"), (upload_value, "the scored upload's own value")):
            if value is not None and not _same(value, result.measured_ppb):
                message = f"{where} for this sample in {on} is {value:g} ppb, not {result.measured_ppb:g}: not changed"
                return Outcome(result.row, result.sample_id, CONFLICT, message, match.run_id, rows), []
    missing = [p for p in match.positions if (match.run_id, p) not in stored]
    if not missing:
        message = f"{result.measured_ppb:g} ppb already kept for {on}: nothing changed"
        return Outcome(result.row, result.sample_id, UNCHANGED, message, match.run_id, rows), []
    message = f"{result.measured_ppb:g} ppb kept for {on}"
    return Outcome(result.row, result.sample_id, RECORDED, message, match.run_id, rows), missing


def _row(result: Result, run_id: str, position: int, file_name: str, sha256: str, now, user) -> dict:
    return {
        "run_id": run_id,
        "position": position,
        "sample_id": result.sample_id,
        "measured_ppb": result.measured_ppb,
        "method": result.method,
        "measured_on": result.measured_on,
        "uncertainty_ppb": result.uncertainty_ppb,
        "file_name": file_name,
        "file_sha256": sha256,
        "file_row": result.row,
        "recorded_at": now,
        "user_name": user,
    }


def accept_results(db: str | Path, data: bytes, file_name: str, actor, id_column: str | None = None) -> Report:
    """record_results for a user: refused unless the role may record lab results; audited with its counts."""
    from don_predictor.services.permissions import require
    from don_predictor.store.audit import audit

    require(actor, "lab_results")
    report = record_results(db, data, file_name, id_column=id_column, user=actor.name if actor else None)
    counts = {status: report.count(status) for status in (RECORDED, UNCHANGED, UNMATCHED, CONFLICT, DUPLICATE, BAD)}
    audit("lab_results", user=actor.name if actor else None, file=file_name, rows=len(report.outcomes), **counts)
    return report
