"""A validated table + fitted backends -> one results frame: every input row, in input order, with a status."""

from __future__ import annotations

import csv
import datetime as dt
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from don_predictor.config import SCREENING_LIMIT_PPB
from don_predictor.modeling.backends import Backend
from don_predictor.spectra.table import FORMULA_PREFIXES, SpectraTable
from don_predictor.trust.screening import (
    DEFAULT_RISK,
    ENGINE_CONFORMAL,
    ENGINE_INTERVAL,
    Risk,
    Thresholds,
    conformal_verdicts,
    interval_verdicts,
    lot_table,
)


def id_column_name(table: SpectraTable) -> str:
    """The id column's name in the results: `row` without one; renamed when it is a results column's own name
    (`status` becomes `input_status`) or looks like a formula (the table's warnings say so)."""
    return table.output_id_column


MEASURED_COLUMN = "measured_ppb"
# A backend's columns, in the order the results give them (score_table writes the first seven, add_verdicts the
# verdict and its reason).
BACKEND_FIELDS = ("ppb", "low_ppb", "high_ppb", "in_domain", "t2", "q", "baseline", "verdict", "verdict_reason")


def in_results_order(columns: list[str], backends: list[str]) -> list[str]:
    """`columns` reordered as the results give them: the id, lot, status and other columns first, then each
    backend's own columns in BACKEND_FIELDS order (any others of that backend after them)."""
    ordered = [c for c in columns if not any(c.startswith(f"{b}_") for b in backends)]
    for backend in backends:
        own = [c for c in columns if c.startswith(f"{backend}_")]
        known = [f"{backend}_{field}" for field in BACKEND_FIELDS if f"{backend}_{field}" in own]
        ordered += known + [c for c in own if c not in known]
    return ordered


def screening_engine(model: Backend) -> str | None:
    """Which rule gives this model's verdicts: the conformal engine, the older interval rule, or none."""
    trust = model.trust
    if trust is not None and trust.screening is not None:
        return ENGINE_CONFORMAL
    if trust is not None and trust.intervals is not None:
        return ENGINE_INTERVAL
    return None


def screening_thresholds(model: Backend, limit_ppb: float, risk: Risk = DEFAULT_RISK) -> Thresholds | None:
    """The model's calibrated thresholds at this limit and risk; None for a model without screening calibration."""
    if model.trust is None or model.trust.screening is None:
        return None
    return model.trust.screening.thresholds(limit_ppb, risk)


def predict_table(
    table: SpectraTable,
    models: dict[str, Backend],
    limit_ppb: float = SCREENING_LIMIT_PPB,
    risk: Risk = DEFAULT_RISK,
    *,
    measured: bool = False,
) -> pd.DataFrame:
    """Columns: the id column, the lot column when the file has one, status, then per backend `<backend>_ppb` and,
    when the model has them, `<backend>_low_ppb`, `<backend>_high_ppb` (the prediction interval),
    `<backend>_in_domain` with the statistics behind it (`<backend>_t2`, `<backend>_q`, `<backend>_baseline`:
    Hotelling T², Q residual and the baseline-offset statistic in SDs), `<backend>_verdict` against `limit_ppb`
    (below / above / send_to_lab, from the screening engine at `risk`, or the interval rule for models saved
    before it) and `<backend>_verdict_reason`. Rows that were not scored have empty cells. With `measured`, a file
    with measured DON (vomitoxin_ppb) also gets it as `measured_ppb` after status (the command line's output: a lab
    checking the screening against its reference values has both in one file).

    Raises BandMismatchError (naming missing and extra bands) if the file's bands are not a model's bands.
    """
    results = add_verdicts(score_table(table, models), models, limit_ppb, risk)
    if measured and table.target is not None:
        name = MEASURED_COLUMN if MEASURED_COLUMN not in results else f"input_{MEASURED_COLUMN}"
        results.insert(results.columns.get_loc("status") + 1, name, table.target)
    return results


def score_table(table: SpectraTable, models: dict[str, Backend]) -> pd.DataFrame:
    """predict_table's columns without the verdicts: what the models say whatever the limit (each model runs once,
    and a page that changes only the limit re-decides from these without scoring again)."""
    scorable = table.scorable
    matrices = _scorable_matrices(table, models, scorable)
    results = pd.DataFrame({id_column_name(table): table.ids})
    if table.lots is not None:
        results[lot_column_name(table)] = table.lots
    results["status"] = table.statuses()
    for name, scored in _each_model(models, matrices).items():
        for key in ("ppb", "low_ppb", "high_ppb"):
            if key in scored:
                column = np.full(table.n_rows, np.nan)
                column[scorable] = scored[key]
                results[f"{name}_{key}"] = column
        if "in_domain" in scored:
            in_domain = pd.array([pd.NA] * table.n_rows, dtype="boolean")
            in_domain[scorable] = scored["in_domain"]
            results[f"{name}_in_domain"] = in_domain
            for statistic in ("t2", "q", "baseline"):  # the statistics behind the flag
                column = np.full(table.n_rows, np.nan)
                column[scorable] = scored[statistic]
                results[f"{name}_{statistic}"] = column
    return results


def _each_model(models: dict[str, Backend], matrices: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Every model's predict_with_trust, the models side by side: their numpy, BLAS and tree code releases the
    interpreter lock, and one model's serial steps (SNV, domain statistics) fill the cores another leaves idle.
    Each model's numbers do not depend on the other running."""

    def run(name: str) -> dict[str, np.ndarray]:
        with np.errstate(all="ignore"):  # 1e300 in a spectrum overflows; its row is out of domain, said in it
            return models[name].predict_with_trust(matrices[name])

    if len(models) == 1:
        return {name: run(name) for name in models}
    with ThreadPoolExecutor(len(models)) as pool:
        return dict(zip(models, pool.map(run, models), strict=True))


def add_verdicts(
    scores: pd.DataFrame, models: dict[str, Backend], limit_ppb: float, risk: Risk = DEFAULT_RISK
) -> pd.DataFrame:
    """score_table's frame with `<backend>_verdict` and `<backend>_verdict_reason` after each backend's columns."""
    verdicts = {}
    for name, model in models.items():
        engine = screening_engine(model)
        if engine is None:
            continue
        trusted = scores[f"{name}_in_domain"].fillna(False).to_numpy(dtype=bool)
        if engine == ENGINE_CONFORMAL:
            thresholds = model.trust.screening.thresholds(limit_ppb, risk)
            decided = conformal_verdicts(scores[f"{name}_ppb"], trusted, thresholds)
        else:
            decided = interval_verdicts(scores[f"{name}_low_ppb"], scores[f"{name}_high_ppb"], trusted, limit_ppb)
        verdicts[f"{name}_verdict"], verdicts[f"{name}_verdict_reason"] = decided.verdict, decided.reason
    columns = in_results_order([*scores.columns, *verdicts], list(models))
    # One copy of the scores: each column taken once, in the results' order.
    return pd.DataFrame({c: verdicts[c] if c in verdicts else scores[c] for c in columns}, index=scores.index)


def _scorable_matrices(table: SpectraTable, models: dict[str, Backend], scorable: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's scorable rows in its band order; one copy per band list, none when the file's bands are already
    in that order and every row is scorable (the usual case: copies of a big batch cost more than scoring it)."""
    by_bands: dict[tuple[str, ...], np.ndarray] = {}
    out = {}
    for name, model in models.items():
        bands = tuple(model.band_names)
        if bands not in by_bands:
            X = table.X if list(bands) == list(table.band_names) else table.bands_matrix(model.band_names)
            by_bands[bands] = X if scorable.all() else X[scorable]
        out[name] = by_bands[bands]
    return out


def lot_column_name(table: SpectraTable) -> str:
    """The lot column's name in the results: the file's own (`lot` or `lot_id`, as spelled there)."""
    return (table.lot_column or "lot").strip()


def lots_of(results: pd.DataFrame, table: SpectraTable, backends: list[str]) -> pd.DataFrame | None:
    """The lot table (see screening.lot_table) for the backends with verdicts; None when the file has no lots."""
    if table.lots is None:
        return None
    verdicts = {b: results[f"{b}_verdict"].to_numpy() for b in backends if f"{b}_verdict" in results}
    return lot_table(table.lots, table.ids, verdicts)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells and column names that a spreadsheet would run as a formula with a quote (CSV injection)."""
    safe = frame.copy()
    safe.columns = [_neutral(name) if isinstance(name, str) else name for name in safe.columns]
    for name in safe.columns:
        column = safe[name]
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            continue
        try:  # vectorised: a Python loop over 100,000 Arrow-backed strings took most of a second
            risky = column.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
        except AttributeError:  # no text at all in the column
            continue
        if risky.any():
            safe[name] = column.where(~risky, "'" + column[risky].astype(str))
    return safe


def _neutral(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def results_csv(frame: pd.DataFrame) -> bytes:
    """The results as CSV: in-domain flags as true/false, formula-like text cells neutralised.

    Written by pyarrow (pandas' to_csv formatted floats in Python: 2.3 of 2.5 s per 100,000 rows of two models),
    which quotes every text cell: the same in every batch, and any CSV reader reads it as pandas' output.
    """
    out = neutralise_formulas(frame)
    for name in out.columns:
        if pd.api.types.is_bool_dtype(out[name].dtype):
            out[name] = out[name].map({True: "true", False: "false"})  # not scored: an empty cell
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([str(name) for name in out.columns])
    try:
        table = pa.Table.from_pandas(out, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column mixing numbers and text (a history's extra field)
        return out.to_csv(index=False, lineterminator="\n").encode("utf-8")
    rows = io.BytesIO()
    pacsv.write_csv(table, rows, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return header.getvalue().encode("utf-8") + rows.getvalue()


def training_rows(table: SpectraTable, models: dict[str, Backend]) -> dict[str, np.ndarray | None]:
    """Per backend, per row of the table: was this exact spectrum one of that model's training rows (None: the
    bundle predates the training hashes)? Rows that cannot be scored are False."""
    out: dict[str, np.ndarray | None] = {}
    for name, model in models.items():
        X = table.bands_matrix(model.band_names)[table.scorable]
        found = model.trust.in_training_data(X) if model.trust is not None else None
        if found is None:
            out[name] = None
            continue
        rows = np.zeros(table.n_rows, dtype=bool)
        rows[table.scorable] = found
        out[name] = rows
    return out


def training_overlap(table: SpectraTable, models: dict[str, Backend]) -> dict[str, int | None]:
    """Per backend: how many of the upload's scorable spectra were that model's training rows (None: the bundle
    predates the training hashes). Figures against measured values on those rows are in-sample."""
    return {name: None if rows is None else int(rows.sum()) for name, rows in training_rows(table, models).items()}


def run_metadata(
    *,
    limit_key: str,
    limit_label: str,
    limit_ppb: float,
    risk: Risk,
    versions: dict[str, str],
    data_name: str,
    data_sha256: str,
    thresholds: dict[str, Thresholds | None],
) -> dict:
    """What produced a results file: saved beside it so the file says what it is (limit, risk levels, model
    versions, date, the input's hash, and each model's calibrated thresholds at that limit)."""
    from don_predictor import __version__

    engines = {}
    for backend, t in thresholds.items():
        if t is None:
            engines[backend] = {"rule": "interval rule (model saved before the screening calibration)"}
        else:
            engines[backend] = {
                "rule": "Mondrian conformal on out-of-fold scores",
                "below_when_score_under_ppb": t.below_under_ppb,
                "above_when_score_over_ppb": t.above_over_ppb,
                "calibration_samples_above_limit": t.n_above,
                "calibration_samples_at_or_below_limit": t.n_below,
                "notes": t.notes(),
            }
    return {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "don_predictor_version": __version__,
        "input_file": data_name,
        "input_sha256": data_sha256,
        "limit": {"key": limit_key, "label": limit_label, "ppb": limit_ppb},
        "risk": {"false_compliant_rate": risk.false_compliant, "false_suspect_rate": risk.false_suspect},
        "model_versions": versions,
        "verdicts": engines,
    }
