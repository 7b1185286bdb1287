"""score(table, models) -> ScoredRun: each model runs once over the table's scorable rows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from don_predictor.modeling.backends import Backend
from don_predictor.scoring.run import BackendScores, ScoredRun
from don_predictor.spectra.table import SpectraTable


def score(table: SpectraTable, models: dict[str, Backend], versions: dict[str, str] | None = None) -> ScoredRun:
    """What the models say about every row whatever the limit (a page that changes only the limit decides again
    from the run without scoring). `versions`: each model's registry version, carried in the run.

    Raises BandMismatchError (naming missing and extra bands) if the file's bands are not a model's bands."""
    scorable = table.scorable
    matrices = _scorable_matrices(table, models, scorable)
    versions = versions or {}
    backends = {
        name: _spread(models[name], out, scorable, table.n_rows, versions.get(name))
        for name, out in _each_model(models, matrices).items()
    }
    return ScoredRun(
        ids=list(table.ids),
        id_column=table.output_id_column,
        statuses=table.statuses(),
        backends=backends,
        lots=None if table.lots is None else list(table.lots),
        lot_column=None if table.lots is None else (table.lot_column or "lot").strip(),
        measured=table.target,
    )


def _spread(model: Backend, out: dict[str, np.ndarray], scorable: np.ndarray, n: int, version) -> BackendScores:
    """A model's outputs on the scorable rows, placed on every row of the table (NaN / NA on the others)."""

    def floats(key: str) -> np.ndarray | None:
        if key not in out:
            return None
        column = np.full(n, np.nan)
        column[scorable] = out[key]
        return column

    in_domain = None
    if "in_domain" in out:
        in_domain = pd.array([pd.NA] * n, dtype="boolean")
        in_domain[scorable] = out["in_domain"]
    trust = model.trust
    return BackendScores(
        version=version,
        ppb=floats("ppb"),
        low=floats("low_ppb"),
        high=floats("high_ppb"),
        in_domain=in_domain,
        t2=floats("t2") if in_domain is not None else None,
        q=floats("q") if in_domain is not None else None,
        baseline=floats("baseline") if in_domain is not None else None,
        calibration=trust.screening if trust is not None else None,
        has_intervals=trust is not None and trust.intervals is not None,
    )


def _each_model(models: dict[str, Backend], matrices: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Every model's predict_with_trust, the models side by side: their numpy, BLAS and tree code releases the
    interpreter lock, and one model's serial steps (SNV, domain statistics) fill the cores another leaves idle.
    Each model's numbers do not depend on the other running."""

    def run(name: str) -> dict[str, np.ndarray]:
        with np.errstate(all="ignore"):  # 1e300 in a spectrum overflows; its row is out of domain, said in it
            return models[name].predict_with_trust(matrices[name])

    if len(models) <= 1:
        return {name: run(name) for name in models}
    with ThreadPoolExecutor(len(models)) as pool:
        return dict(zip(models, pool.map(run, models), strict=True))


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
