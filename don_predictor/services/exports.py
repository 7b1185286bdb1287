"""A run as the files a lab keeps: figures rounded to what the method supports, the measured value beside the
predictions, and what produced them (limit, risk levels, model versions, date, input hash) in every format:
CSV with a JSON sidecar, an Excel workbook with results, lots and run sheets, and a one-page printable report."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from don_predictor.config import TARGET_COLUMN
from don_predictor.plain_text import visible, visible_text
from don_predictor.scoring.frame import in_results_order
from don_predictor.scoring.frame_views import lot_summary, out_of_domain_rows, verdict_counts
from don_predictor.scoring.run import JOINT, Lots
from don_predictor.services.formula_guard import neutralise_formulas
from don_predictor.services.precision import export_frame, measured_column
from don_predictor.services.results_csv import results_csv
from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB

REPORT_MAX_SAMPLES = 40  # the printable report lists this many not-cleared samples; the CSV has them all
REPORT_LOT_IDS = 3  # sample ids a lot's "decided by" cell names in the report; the lots file names every one
ROW_COLUMN = "row"  # the data row (1 = the first under the header), first in a download whose ids repeat
UNTRUSTED = "not trusted (outside the domain)"
NOT_SCORED = "not scored"


def history_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """A run read back from the history (history.run_rows) in the shape of the page's download: the sample id,
    status, the measured value as `measured_ppb`, then the per-backend columns, rounded the same way."""
    out = rows.drop(columns=[c for c in ("run_id", "position") if c in rows])
    measured = None
    if TARGET_COLUMN in out:
        measured = pd.to_numeric(out.pop(TARGET_COLUMN), errors="coerce").to_numpy(dtype=float)
    return export_frame(with_row_numbers(out[_in_results_order(list(out.columns))]), measured)


def _in_results_order(columns: list[str]) -> list[str]:
    """A history run's columns in the page's order; its backends are those with a `<backend>_ppb` column."""
    backends = list(dict.fromkeys(c[: -len("_ppb")] for c in columns if c.endswith("_ppb") and c.count("_") == 1))
    return in_results_order(columns, backends)


def with_row_numbers(results: pd.DataFrame) -> pd.DataFrame:
    """The results with a `row` column first when an id (the first column) appears more than once, so the repeated
    ids' rows can be told apart: the data row, counted as the upload's warnings count it (the first row under the
    header is row 1). Unchanged when every id is unique: the usual download keeps its columns."""
    if results.empty or not results.iloc[:, 0].duplicated().any():
        return results
    name = ROW_COLUMN
    while name in results:  # a file whose own id column is called `row`
        name = f"file_{name}"
    out = results.copy()
    out.insert(0, name, np.arange(1, len(out) + 1))
    return out


def repeated_rows(results: pd.DataFrame) -> np.ndarray:
    """Per row: True when its id (the first column) appears on another row too."""
    if results.empty:
        return np.zeros(0, dtype=bool)
    return results.iloc[:, 0].duplicated(keep=False).to_numpy(dtype=bool)


def csv_bytes(results: pd.DataFrame, measured: np.ndarray | None = None) -> bytes:
    """The page's results CSV (see with_row_numbers for the `row` column of a file whose ids repeat)."""
    return results_csv(export_frame(with_row_numbers(results), measured))


def _sample_names(ids: list[str]) -> list[str]:
    """The ids as a lot's "decided by" names them: an id that repeats with its data row, "s1 (row 4)"."""
    repeated = pd.Series(ids, dtype=object).duplicated(keep=False).to_numpy(dtype=bool)
    if not repeated.any():
        return list(ids)
    return [
        f"{name} (row {i + 1})" if again else name for i, (name, again) in enumerate(zip(ids, repeated, strict=True))
    ]


def _named(lots: Lots) -> Lots:
    """The run's lots with each sample named as a lot's "decided by" names it (see _sample_names)."""
    return replace(lots, ids=_sample_names(lots.ids))


def lots_file(lots: Lots | None) -> pd.DataFrame | None:
    """The run's lot table (Decisions.lots) as the lots download holds it: each lot's `<b>_decided_by` names every
    deciding sample (the page's table and the report name a few), a repeated id with its row ("s1 (row 4)"). None
    when the file has no lot column."""
    if lots is None:
        return None
    return _named(lots).table(listed=max(len(lots.ids), 1))


def workbook_bytes(
    results: pd.DataFrame, lots: pd.DataFrame | None, metadata: dict, measured: np.ndarray | None = None
) -> bytes:
    """An Excel workbook: `results` (as the CSV), `lots` (when the file has lots: pass lots_file's table) and `run`
    (what produced it, one fact a row). Text that a spreadsheet would run as a formula is quoted, as in the CSV."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        # Text cells (ids, lots, the file's name) with hidden characters shown: `lot\u202efdp.exe`, not `lotexe.pdf`.
        results_sheet = export_frame(with_row_numbers(results), measured)
        neutralise_formulas(visible_text(results_sheet)).to_excel(writer, sheet_name="results", index=False)
        if lots is not None and not lots.empty:
            neutralise_formulas(visible_text(_fits_a_cell(lots))).to_excel(writer, sheet_name="lots", index=False)
        run = pd.DataFrame(flatten(metadata).items(), columns=["item", "value"])
        neutralise_formulas(visible_text(run)).to_excel(writer, sheet_name="run", index=False)
    return buffer.getvalue()


EXCEL_CELL_CHARS = 32_767  # Excel's limit: openpyxl cuts longer text with only a warning


def _fits_a_cell(lots: pd.DataFrame) -> pd.DataFrame:
    """A lot's "decided by" list cut to what an Excel cell holds, saying so (the Lots CSV names every sample)."""
    out = lots.copy()
    note = " … (cut to fit one Excel cell: the Lots CSV names every sample)"
    for name in (c for c in out.columns if str(c).endswith("_decided_by")):
        out[name] = [
            text[: EXCEL_CELL_CHARS - len(note)].rsplit(", ", 1)[0] + note
            if isinstance(text, str) and len(text) > EXCEL_CELL_CHARS
            else text
            for text in out[name]
        ]
    return out


def flatten(data: dict, prefix: str = "") -> dict[str, object]:
    """Nested run details as `a.b.c: value` pairs; lists joined by "; "."""
    out: dict[str, object] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = "; ".join(str(v) for v in value)
        else:
            out[name] = value
    return out


_TEMPLATES = Environment(
    loader=PackageLoader("don_predictor", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    finalize=lambda value: visible(value) if isinstance(value, str) else value,  # every printed text, then escaped
)


def report_html(
    results: pd.DataFrame,
    lots: Lots | None,
    metadata: dict,
    backends: list[str],
    measured: np.ndarray | None = None,
) -> str:
    """One printable page for a run: what was screened against what, the verdict counts per model, the lots, and
    the samples that were not cleared (the ones somebody has to act on). Every value from the upload is escaped.

    With a joint verdict (`both_verdict`, Compare's decision to act on) BOTH comes first everywhere and a sample
    is "not cleared" when BOTH does not clear it. A prediction from a spectrum outside its model's calibration
    domain is printed as "not trusted", not as a number (the results file keeps it)."""
    decisions = _decision_backends(results, backends)
    counts = verdict_counts(results, decisions).to_dict("records")
    frame = export_frame(results, measured)
    not_cleared = pd.Series(False, index=results.index)
    for backend in [JOINT] if JOINT in decisions else decisions:  # the joint decision is the one to act on
        # above, send_to_lab, or not scored (an empty verdict): each needs someone to act on it
        not_cleared |= ~results[f"{backend}_verdict"].fillna("").eq(BELOW)
    # The id column and, with lots, the lot column come before `status` (see scoring.frame.results_frame).
    key_columns = list(results.columns[: results.columns.get_loc("status")]) if "status" in results else []
    models = [b for b in backends if b != JOINT and f"{b}_ppb" in frame]
    shown = frame.loc[not_cleared].head(REPORT_MAX_SAMPLES)
    repeated = repeated_rows(results)
    lot_rows, lot_backends, lot_summary = _lot_rows(lots)
    return _TEMPLATES.get_template("run_report.html").render(
        meta=metadata,
        counts=counts,
        joint=JOINT in decisions,
        has_verdicts=bool(decisions),
        verdict_names=(BELOW, SEND_TO_LAB, ABOVE),
        lots=lot_rows,
        lot_backends=lot_backends,
        lot_summary=lot_summary,
        lot_ids=REPORT_LOT_IDS,
        key_columns=key_columns[:2],
        measured=measured is not None,
        models=models,
        verdict_models=[b for b in models if b in decisions],
        untrusted=UNTRUSTED,
        samples=[
            _sample_row(frame, results, i, key_columns, measured is not None, decisions, models, repeated)
            for i in shown.index
        ],
        n_not_cleared=int(not_cleared.sum()),
        n_rows=len(results),
        n_scored=int(results["status"].eq("ok").sum()) if "status" in results else len(results),
        max_samples=REPORT_MAX_SAMPLES,
    )


def _decision_backends(results: pd.DataFrame, backends: list[str]) -> list[str]:
    """The backends with verdicts, the joint one first when the results have it (the page passes the models)."""
    named = [b for b in backends if b != JOINT and f"{b}_verdict" in results]
    return [JOINT, *named] if f"{JOINT}_verdict" in results else named


def _trusted(results: pd.DataFrame, backend: str, i: object) -> bool:
    """False only for a spectrum the backend's domain check flagged (a row it did not score is "not scored")."""
    return not out_of_domain_rows(results.loc[[i]], backend)[0]


def _sample_row(
    frame: pd.DataFrame,
    results: pd.DataFrame,
    i: object,
    key_columns: list[str],
    with_measured: bool,
    decisions: list[str],
    models: list[str],
    repeated: np.ndarray,
) -> dict:
    """One not-cleared sample for the template: its id (and lot; an id that repeats with its data row, "s1 (row
    4)"), the measured value, each verdict with its reason, and each model's prediction and interval as text, or
    `trusted` False for a spectrum outside the domain."""
    row: dict[str, object] = {"keys": [_cell(frame.at[i, c]) for c in key_columns[:2]]}
    position = results.index.get_loc(i)
    if row["keys"] and repeated[position]:
        row["keys"][0] = f"{row['keys'][0]} (row {position + 1})"
    if with_measured:
        row["measured"] = _cell(frame.at[i, measured_column(results)])
    verdicts = {}
    for backend in decisions:
        verdict = str(results.at[i, f"{backend}_verdict"] or "")
        if verdict in ("", "nan", "None"):  # the row was not scored: what to do is in its status
            verdicts[backend] = {"verdict": NOT_SCORED, "reason": _cell(results.at[i, "status"])}
            continue
        if backend == JOINT:
            reason = _joint_reason(results, i, [b for b in decisions if b != JOINT], verdict)
        else:
            reason = results.at[i, f"{backend}_verdict_reason"] if f"{backend}_verdict_reason" in results else ""
        verdicts[backend] = {"verdict": verdict, "reason": _cell(reason)}
    row["verdicts"] = verdicts
    predictions = {}
    for backend in models:
        ppb, low, high = (frame.get(f"{backend}_{key}") for key in ("ppb", "low_ppb", "high_ppb"))
        interval = ""
        if low is not None and high is not None and not (pd.isna(low.at[i]) or pd.isna(high.at[i])):
            interval = f"{_cell(low.at[i])} – {_cell(high.at[i])}"
        predictions[backend] = {"ppb": _cell(ppb.at[i]), "interval": interval, "trusted": _trusted(results, backend, i)}
    row["predictions"] = predictions
    return row


def _joint_reason(results: pd.DataFrame, i: object, members: list[str], verdict: str) -> str:
    """Why the joint verdict is what it is, from the models' own verdicts."""
    if verdict in (BELOW, ABOVE):
        return f"both models: {verdict}"
    if verdict != SEND_TO_LAB:
        return ""
    reasons = []
    for backend in members:
        own = str(results.at[i, f"{backend}_verdict"])
        if not _trusted(results, backend, i):
            reasons.append(f"{backend.upper()}: outside its calibration domain, not trusted")
        elif own == SEND_TO_LAB:
            reasons.append(f"{backend.upper()} cannot tell")
        elif own == "":
            reasons.append(f"{backend.upper()} did not score it")
    if reasons:
        return "; ".join(reasons)
    said = ", ".join(f"{b.upper()} {results.at[i, f'{b}_verdict']}" for b in members)
    return f"the models disagree ({said})"


def _lot_rows(lots: Lots | None) -> tuple[list[dict], list[str], str]:
    """The lot table as printed: per lot its name, sample count, each backend's lot verdict (the joint one first)
    and the samples behind the first one's verdict, cut to a few ids; the backends; a one-line summary."""
    table = _report_lots(lots)
    if table is None or table.empty:
        return [], [], ""
    named = list(lots.verdicts)
    backends = [JOINT, *(b for b in named if b != JOINT)] if JOINT in named else named
    if not backends:
        return (
            [{"lot": _cell(r["lot"]), "samples": _cell(r["samples"]), "verdicts": []} for _, r in table.iterrows()],
            [],
            "",
        )
    first = backends[0]
    rows = [
        {
            "lot": _cell(lot["lot"]),
            "samples": _cell(lot["samples"]),
            "verdicts": [str(lot[f"{b}_lot_verdict"]) for b in backends],
            "decided_by": lot[f"{first}_decided_by"],
        }
        for _, lot in table.iterrows()
    ]
    return rows, backends, lot_summary(table, first)


def _report_lots(lots: Lots | None) -> pd.DataFrame | None:
    """The run's lot table naming REPORT_LOT_IDS samples per lot (the lots file names every one); None when the
    file has no lot column."""
    if lots is None:
        return None
    return _named(lots).table(listed=REPORT_LOT_IDS)


def _cell(value: object) -> object:
    if pd.isna(value):
        return ""
    return f"{value:,}" if isinstance(value, int | np.integer) else value


def file_names(upload_name: str, suffix: str) -> dict[str, str]:
    """The download names of one run's files, all from the upload's stem."""
    stem = Path(upload_name).stem or "spectra"
    base = f"{stem}_{suffix}"
    return {
        "csv": f"{base}.csv",
        "lots": f"{base}_lots.csv",
        "json": f"{base}_run.json",
        "xlsx": f"{base}.xlsx",
        "html": f"{base}_report.html",
    }
