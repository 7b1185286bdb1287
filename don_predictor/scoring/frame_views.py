"""The edges' views of a run's frames: what the pages, the report and the drift check read from the results frame
(scoring.frame.results_frame: `<backend>_ppb`, `_in_domain`, `_verdict`), and the lot table (`Lots.table`: one row per
lot, per decision its verdict, counts and the samples that decided it). The rules behind them (the verdicts, the lot
verdict) are trust.screening's; the column names are the results' contract, read and written only at the edges."""

from __future__ import annotations

import numpy as np
import pandas as pd

from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB, VERDICTS, lot_verdict

MAX_LISTED_SAMPLES = 10  # deciding samples a lot table's cell names (the page's table); the lots file names all

# --- the lot table -------------------------------------------------------------------------------------------------


def lot_table(
    lots: list[str | None], ids: list[str], verdicts: dict[str, np.ndarray], listed: int = MAX_LISTED_SAMPLES
) -> pd.DataFrame:
    """One row per lot (in order of first appearance): `lot`, `samples`, then per backend `<b>_lot_verdict`,
    counts `<b>_below`, `<b>_send_to_lab`, `<b>_above`, `<b>_not_scored`, and `<b>_decided_by`: the samples above
    (an above lot), the samples not cleared (a send-to-lab lot), or "all N below", naming at most `listed` of
    them. Rows without a lot are left out.
    """
    order: dict[str, list[int]] = {}
    for position, lot in enumerate(lots):
        if lot is not None and str(lot).strip():
            order.setdefault(str(lot).strip(), []).append(position)
    rows = []
    for lot, positions in order.items():
        row: dict[str, object] = {"lot": lot, "samples": len(positions)}
        for backend, values in verdicts.items():
            members = [str(values[p]) for p in positions]
            verdict = lot_verdict(members)
            row[f"{backend}_lot_verdict"] = verdict
            for name in VERDICTS:
                row[f"{backend}_{name}"] = members.count(name)
            row[f"{backend}_not_scored"] = members.count("")
            if verdict == ABOVE:
                deciding = [ids[p] for p, v in zip(positions, members, strict=True) if v == ABOVE]
            elif verdict == SEND_TO_LAB:
                deciding = [ids[p] for p, v in zip(positions, members, strict=True) if v != BELOW]
            else:
                deciding = []
            row[f"{backend}_decided_by"] = _sample_list(deciding, listed) if deciding else f"all {len(positions)} below"
        rows.append(row)
    return pd.DataFrame(rows, columns=_lot_columns(list(verdicts)))


def lot_tally(lots: pd.DataFrame, backend: str) -> dict[str, int]:
    """How many lots of a lot table get each verdict by one backend (every verdict named, 0 when none)."""
    tally = lots[f"{backend}_lot_verdict"].value_counts()
    return {v: int(tally.get(v, 0)) for v in VERDICTS}


def lot_summary(lots: pd.DataFrame, backend: str) -> str:
    """One line on a lot table, by one backend's lot verdicts: "20 lots: 12 below, 5 send to lab, 3 above"."""
    tally = lot_tally(lots, backend)
    parts = [f"{tally[v]:,} {v.replace('_', ' ')}" for v in VERDICTS]
    return f"{len(lots):,} lot{'s' if len(lots) != 1 else ''}: {', '.join(parts)}"


def _lot_columns(backends: list[str]) -> list[str]:
    columns = ["lot", "samples"]
    for backend in backends:
        columns += [f"{backend}_lot_verdict", *(f"{backend}_{name}" for name in VERDICTS)]
        columns += [f"{backend}_not_scored", f"{backend}_decided_by"]
    return columns


def _sample_list(ids: list[str], listed: int) -> str:
    """'a, b, c and 90 more'."""
    shown = ", ".join(ids[:listed])
    return shown + (f" and {len(ids) - listed:,} more" if len(ids) > listed else "")


# --- the results frame, as the pages and the report read it ------------------------------------------------------


def verdict_counts(results: pd.DataFrame, backends: list[str]) -> pd.DataFrame:
    """Per backend with verdicts: `model`, `below`, `send_to_lab`, `above`, `out_of_domain` (of the scored rows)
    and `not_scored`."""
    rows = []
    for backend in backends:
        if f"{backend}_verdict" not in results:
            continue
        verdicts = results[f"{backend}_verdict"]
        in_domain = results.get(f"{backend}_in_domain")
        out_of_domain = int((in_domain == False).sum()) if in_domain is not None else 0  # noqa: E712 (NA stays NA)
        rows.append(
            {
                "model": backend.upper(),
                **{name: int((verdicts == name).sum()) for name in VERDICTS},
                "out_of_domain": out_of_domain,
                "not_scored": int((verdicts == "").sum()),
            }
        )
    return pd.DataFrame(rows, columns=["model", *VERDICTS, "out_of_domain", "not_scored"])


def trusted_ppb(results: pd.DataFrame, backend: str) -> np.ndarray:
    """The backend's predictions of in-domain spectra only (all scored ones when the model has no domain check):
    the only ones fit for a headline figure."""
    ppb = results[f"{backend}_ppb"].to_numpy(dtype=float)
    return ppb[trusted_rows(results, backend)]


def out_of_domain_rows(results: pd.DataFrame, backend: str) -> np.ndarray:
    """Per row: the backend's domain check flagged the spectrum (False for rows it did not score, and everywhere
    when the model has no domain check)."""
    if f"{backend}_in_domain" not in results:
        return np.zeros(len(results), dtype=bool)
    in_domain = results[f"{backend}_in_domain"].astype("boolean")
    return ~in_domain.fillna(True).to_numpy(dtype=bool)


def trusted_rows(results: pd.DataFrame, backend: str) -> np.ndarray:
    """Per row: the backend scored it and its spectrum is in the calibration domain (every scored row when the
    model has no domain check)."""
    scored = np.isfinite(results[f"{backend}_ppb"].to_numpy(dtype=float))
    return scored & ~out_of_domain_rows(results, backend)


def untrusted_as_nan(results: pd.DataFrame, backend: str) -> np.ndarray:
    """The backend's ppb with the predictions it does not trust (outside the domain, not scored) as NaN: what
    agreement and accuracy figures may be computed from."""
    ppb = results[f"{backend}_ppb"].to_numpy(dtype=float).copy()
    ppb[~trusted_rows(results, backend)] = np.nan
    return ppb


def verdict_agreement(results: pd.DataFrame, backends: tuple[str, str] = ("rf", "tf")) -> dict[str, float]:
    """Of the rows both models decided (below or above), the share on which they agree; and how many rows
    that is."""
    a, b = (results.get(f"{name}_verdict") for name in backends)
    if a is None or b is None:
        return {"n_both_decided": 0, "same_verdict_share": float("nan")}
    both = a.isin([BELOW, ABOVE]) & b.isin([BELOW, ABOVE])
    n = int(both.sum())
    return {"n_both_decided": n, "same_verdict_share": float((a[both] == b[both]).mean()) if n else float("nan")}
