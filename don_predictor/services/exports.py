"""A run as the files a lab keeps: figures rounded to what the method supports, the measured value beside the
predictions, and what produced them (limit, risk levels, model versions, date, input hash) in every format:
CSV with a JSON sidecar, an Excel workbook with results, lots and run sheets, and a one-page printable report."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from don_predictor.config import TARGET_COLUMN
from don_predictor.services.predict import MEASURED_COLUMN, in_results_order, neutralise_formulas, results_csv
from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB, verdict_counts

PPB_SUFFIXES = ("_ppb", "_low_ppb", "_high_ppb", "_diff_ppb")
SIGNIFICANT_DIGITS = 4  # T², Q and the baseline statistic: enough to compare with their limits, no false precision
REPORT_MAX_SAMPLES = 40  # the printable report lists this many not-cleared samples; the CSV has them all


def export_frame(results: pd.DataFrame, measured: np.ndarray | None = None) -> pd.DataFrame:
    """The results as saved: ppb to the unit (the reference methods report whole µg/kg), the domain statistics to
    four significant digits, and the measured value (when the upload had one) after `status`."""
    out = results.copy()
    for name in out.columns:
        if not isinstance(name, str) or not pd.api.types.is_float_dtype(out[name].dtype):
            continue
        if name.endswith(PPB_SUFFIXES):
            out[name] = out[name].round().astype("Int64")
        elif name.endswith(("_t2", "_q", "_baseline")):
            out[name] = significant(out[name].to_numpy(dtype=float), SIGNIFICANT_DIGITS)
    if measured is not None:
        at = out.columns.get_loc("status") + 1 if "status" in out else len(out.columns)
        name = MEASURED_COLUMN if MEASURED_COLUMN not in out else f"input_{MEASURED_COLUMN}"
        out.insert(at, name, pd.array(np.round(measured), dtype="Float64").astype("Int64"))
    return out


def history_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """A run read back from the history (history.run_rows) in the shape of the page's download: the sample id,
    status, the measured value as `measured_ppb`, then the per-backend columns, rounded the same way."""
    out = rows.drop(columns=[c for c in ("run_id", "position") if c in rows])
    measured = None
    if TARGET_COLUMN in out:
        measured = pd.to_numeric(out.pop(TARGET_COLUMN), errors="coerce").to_numpy(dtype=float)
    return export_frame(out[_in_results_order(list(out.columns))], measured)


def _in_results_order(columns: list[str]) -> list[str]:
    """A history run's columns in the page's order; its backends are those with a `<backend>_ppb` column."""
    backends = list(dict.fromkeys(c[: -len("_ppb")] for c in columns if c.endswith("_ppb") and c.count("_") == 1))
    return in_results_order(columns, backends)


def significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round each value to `digits` significant digits (NaN and infinities unchanged)."""
    out = values.astype(float).copy()
    finite = np.isfinite(out) & (out != 0)
    magnitude = np.floor(np.log10(np.abs(out[finite])))
    scale = 10.0 ** (digits - 1 - magnitude)
    out[finite] = np.round(out[finite] * scale) / scale
    return out


def csv_bytes(results: pd.DataFrame, measured: np.ndarray | None = None) -> bytes:
    return results_csv(export_frame(results, measured))


def workbook_bytes(
    results: pd.DataFrame, lots: pd.DataFrame | None, metadata: dict, measured: np.ndarray | None = None
) -> bytes:
    """An Excel workbook: `results`, `lots` (when the file has lots) and `run` (what produced it, one fact a row).
    Text that a spreadsheet would run as a formula is quoted, as in the CSV."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        neutralise_formulas(export_frame(results, measured)).to_excel(writer, sheet_name="results", index=False)
        if lots is not None and not lots.empty:
            neutralise_formulas(lots).to_excel(writer, sheet_name="lots", index=False)
        run = pd.DataFrame(flatten(metadata).items(), columns=["item", "value"])
        neutralise_formulas(run).to_excel(writer, sheet_name="run", index=False)
    return buffer.getvalue()


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
    loader=PackageLoader("don_predictor", "templates"), autoescape=select_autoescape(default=True), trim_blocks=True
)


def report_html(
    results: pd.DataFrame,
    lots: pd.DataFrame | None,
    metadata: dict,
    backends: list[str],
    measured: np.ndarray | None = None,
) -> str:
    """One printable page for a run: what was screened against what, the verdict counts per model, the lots, and
    the samples that were not cleared (the ones somebody has to act on). Every value from the upload is escaped."""
    counts = verdict_counts(results, backends)
    frame = export_frame(results, measured)
    not_cleared = pd.Series(False, index=results.index)
    for backend in backends:
        if f"{backend}_verdict" in results:
            not_cleared |= results[f"{backend}_verdict"].isin([ABOVE, SEND_TO_LAB])
    # The id column and, with lots, the lot column come before `status` (see predict.predict_table).
    listed_columns = list(results.columns[: results.columns.get_loc("status")]) if "status" in results else []
    if measured is not None:
        listed_columns.append(MEASURED_COLUMN)
    for backend in backends:
        wanted = (f"{backend}_ppb", f"{backend}_low_ppb", f"{backend}_high_ppb", f"{backend}_verdict")
        listed_columns += [c for c in wanted if c in frame]
    samples = frame.loc[not_cleared, listed_columns]
    return _TEMPLATES.get_template("run_report.html").render(
        meta=metadata,
        counts=counts.to_dict("records"),
        verdict_names=(BELOW, SEND_TO_LAB, ABOVE),
        lots=None if lots is None or lots.empty else lots.to_dict("records"),
        lot_columns=[] if lots is None else [c for c in lots.columns if not c.endswith("_not_scored")],
        samples=_printable(samples.head(REPORT_MAX_SAMPLES)),
        sample_columns=listed_columns,
        n_not_cleared=len(samples),
        n_rows=len(results),
        n_scored=int(results["status"].eq("ok").sum()) if "status" in results else len(results),
        max_samples=REPORT_MAX_SAMPLES,
    )


def _printable(frame: pd.DataFrame) -> list[dict]:
    """Rows for the template: missing values as empty cells, whole numbers with thousands separators."""
    rows = []
    for record in frame.astype(object).to_dict("records"):
        rows.append({k: _cell(v) for k, v in record.items()})
    return rows


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
