"""The retraining set: the calibration table plus the lab-confirmed samples the history kept (spectrum + the lab's
measured value), as one SpectraTable for training, and a summary of what they add.

"Near a limit" is a measured value within ±50 % of it (500–1,500 ppb for 1,000): the samples that decide whether
the screen can clear or reject more at that limit. "Out of domain" uses the current model's domain check when one
is given (a function of the spectra), else the flags recorded when each sample was scored."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import and_, select

from don_predictor.lab.records import unpack
from don_predictor.spectra.table import SpectraTable, band_key
from don_predictor.store.history import tables as t
from don_predictor.store.history.db import engine
from don_predictor.store.history.store import plain_errors

SUMMARY_LIMITS_PPB = (1000.0, 1500.0, 5000.0)
NEAR = 0.5  # within ±50 % of a limit


@dataclass(frozen=True)
class RetrainingSummary:
    calibration_rows: int
    added: int
    other_bands: int  # kept spectra measured on other bands than the calibration's: left out
    near_limit: dict[float, int]  # limit ppb -> added samples measured within ±50 % of it
    above_limit: dict[float, int]
    out_of_domain: int | None  # None: not known (no check given and none recorded)

    def lines(self) -> list[str]:
        near = ", ".join(f"{self.near_limit[k]} near {k:,.0f} ppb" for k in self.near_limit)
        out = "unknown" if self.out_of_domain is None else str(self.out_of_domain)
        lines = [f"{self.calibration_rows} calibration rows + {self.added} lab-confirmed samples ({near})"]
        lines.append(f"out of the current model's domain: {out}")
        if self.other_bands:
            lines.append(f"{self.other_bands} kept spectra have other bands than the calibration file: left out")
        return lines


@dataclass(frozen=True)
class Confirmed:
    """Lab-confirmed samples from the history, with their spectra on their own bands."""

    ids: list[str]
    X: list[np.ndarray]
    bands: list[list[str]]
    measured_ppb: np.ndarray
    in_domain: list[bool | None]


@plain_errors
def confirmed_samples(db: str | Path, since: datetime | None = None, limit: int | None = None) -> Confirmed:
    """The newest `limit` kept spectra with a lab result recorded since `since` (every one when None)."""
    sp, lr, w, s, res = t.lab_spectra, t.lab_results, t.lab_worklists, t.samples, t.results
    row = and_(lr.c.run_id == sp.c.run_id, lr.c.position == sp.c.position)
    query = (
        select(s.c.sample_id, sp.c.spectrum, w.c.band_names, lr.c.measured_ppb, sp.c.run_id, sp.c.position)
        .join(lr, row)
        .join(w, w.c.run_id == sp.c.run_id)
        .join(s, and_(s.c.run_id == sp.c.run_id, s.c.position == sp.c.position))
        .where(*([lr.c.recorded_at >= since] if since else []), w.c.band_names.is_not(None))
        .order_by(lr.c.recorded_at.desc(), sp.c.run_id, sp.c.position)
    )
    if limit is not None:
        query = query.limit(limit)
    flags = select(res.c.run_id, res.c.position, res.c.in_domain).join(
        sp, and_(res.c.run_id == sp.c.run_id, res.c.position == sp.c.position)
    )
    with engine(db).connect() as connection:
        rows = [tuple(r) for r in connection.execute(query)]
        domain: dict[tuple, bool | None] = {}
        for run_id, position, inside in connection.execute(flags):
            key = (run_id, position)
            # out for any backend is out; a backend without a check says nothing
            domain[key] = inside if domain.get(key) is None else (domain[key] and inside is not False)
    bands_of: dict[str, list[str]] = {}
    return Confirmed(
        ids=[r[0] for r in rows],
        X=[unpack(r[1]) for r in rows],
        bands=[bands_of.setdefault(r[2], json.loads(r[2])) for r in rows],
        measured_ppb=np.array([r[3] for r in rows], dtype=float),
        in_domain=[domain.get((r[4], r[5])) for r in rows],
    )


def retraining_set(
    calibration: SpectraTable,
    confirmed: Confirmed,
    domain: Callable[[np.ndarray], np.ndarray] | None = None,
    limits_ppb: tuple[float, ...] = SUMMARY_LIMITS_PPB,
) -> tuple[SpectraTable, RetrainingSummary]:
    """The calibration table with the confirmed samples appended (on the calibration's bands, in its order)."""
    if calibration.target is None:
        raise ValueError("the calibration table has no measured values to train on")
    wanted = [band_key(b) for b in calibration.band_names]
    rows, kept = [], []
    for i, (x, bands) in enumerate(zip(confirmed.X, confirmed.bands, strict=True)):
        position = {band_key(b): j for j, b in enumerate(bands)}
        if len(bands) == len(wanted) and set(position) == set(wanted):
            rows.append(x[[position[k] for k in wanted]])
            kept.append(i)
    X_new = np.vstack(rows) if rows else np.empty((0, len(wanted)))
    y_new = confirmed.measured_ppb[kept]
    table = SpectraTable(
        ids=[*calibration.ids, *[confirmed.ids[i] for i in kept]],
        id_column=calibration.id_column,
        band_names=list(calibration.band_names),
        X=np.vstack([calibration.X, X_new]),
        target=np.concatenate([calibration.target, y_new]),
        problems=list(calibration.problems),  # their rows keep their numbers: the new rows come after
        file_warnings=list(calibration.file_warnings),
    )
    if domain is not None:
        out_of_domain: int | None = int((~np.asarray(domain(X_new), dtype=bool)).sum()) if rows else 0
    else:
        flags = [confirmed.in_domain[i] for i in kept]
        out_of_domain = None if any(f is None for f in flags) else sum(f is False for f in flags)
    summary = RetrainingSummary(
        calibration_rows=calibration.n_rows,
        added=len(kept),
        other_bands=len(confirmed.X) - len(kept),
        near_limit={k: int((np.abs(y_new - k) <= NEAR * k).sum()) for k in limits_ppb},
        above_limit={k: int((y_new > k).sum()) for k in limits_ppb},
        out_of_domain=out_of_domain,
    )
    return table, summary
