"""A run's lab worklist: every `send_to_lab` sample (to confirm) plus a seeded random share of the cleared (`below`)
samples (to verify the screen: EU 519/2014 asks that the false-compliant rate be checked on an ongoing basis).

How many cleared samples are drawn: ceil(share x cleared), so a run with any cleared sample sends at least one when
the share is above 0 (10 cleared at 5 %: 1; 100: 5; 101: 6). The draw is uniform without replacement from the
run's cleared rows with numpy's default generator and the recorded seed: the same run, share and seed give the same
list, and the verification samples are an unbiased sample of what the screen cleared.
"""

from __future__ import annotations

import io
import math
import secrets
from dataclasses import dataclass

import numpy as np
import pandas as pd

from don_predictor.config import ID_COLUMN, TARGET_COLUMN
from don_predictor.plain_text import visible_text
from don_predictor.services.formula_guard import neutralise_formulas
from don_predictor.services.results_csv import results_csv
from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB

CONFIRM, VERIFY = "confirm", "verify"  # why a sample is on the list
RESULT_COLUMNS = (TARGET_COLUMN, "method", "date", "uncertainty_ppb")  # left empty for the lab to fill in


@dataclass(frozen=True)
class Worklist:
    run_id: str
    decided_by: str  # whose verdicts: a backend, or "both" (Compare's joint verdict)
    verify_share: float
    seed: int
    cleared: int  # `below` samples in the run: what the verification share was drawn from
    called_above: int  # `above` samples in the run (rejected without a lab test)
    positions: np.ndarray  # 0-based rows of the run on the list, in the run's order
    purposes: list[str]  # CONFIRM or VERIFY, per listed row
    ids: list[str]
    lots: list[str | None]
    verdicts: list[str]
    reasons: list[str]

    @property
    def verify_count(self) -> int:
        return self.purposes.count(VERIFY)

    @property
    def confirm_count(self) -> int:
        return self.purposes.count(CONFIRM)


def verify_count(cleared: int, share: float) -> int:
    """How many of `cleared` samples a share draws: rounded up, so any cleared sample at a share above 0 sends one."""
    return min(cleared, math.ceil(round(share * cleared, 9))) if share > 0 else 0


def build_worklist(
    run_id: str,
    ids: list[str],
    verdicts: list[str],
    reasons: list[str] | None = None,
    lots: list[str | None] | None = None,
    *,
    share: float,
    seed: int | None = None,
    decided_by: str,
) -> Worklist:
    """The worklist of one run's rows (in the run's order: row i is the run's position i). `seed` None: a new one,
    recorded in the worklist."""
    n = len(ids)
    verdicts = ["" if v is None else str(v) for v in verdicts]
    reasons = list(reasons) if reasons is not None else [""] * n
    lots = list(lots) if lots is not None else [None] * n
    if not len(verdicts) == len(reasons) == len(lots) == n:
        raise ValueError("ids, verdicts, reasons and lots must have one entry per row")
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    cleared = np.flatnonzero(np.asarray(verdicts, dtype=object) == BELOW)
    drawn = np.random.default_rng(seed).choice(cleared, size=verify_count(len(cleared), share), replace=False)
    purpose = {int(i): VERIFY for i in drawn} | {i: CONFIRM for i, v in enumerate(verdicts) if v == SEND_TO_LAB}
    positions = np.array(sorted(purpose), dtype=int)
    return Worklist(
        run_id=run_id,
        decided_by=decided_by,
        verify_share=float(share),
        seed=seed,
        cleared=len(cleared),
        called_above=verdicts.count(ABOVE),
        positions=positions,
        purposes=[purpose[int(i)] for i in positions],
        ids=[str(ids[i]) for i in positions],
        lots=[lots[i] for i in positions],
        verdicts=[verdicts[i] for i in positions],
        reasons=["" if reasons[i] is None else str(reasons[i]) for i in positions],
    )


class StreamedWorklist:
    """A worklist drawn batch by batch, for a file streamed in batches (the command line): each batch's cleared
    samples are drawn at the share with the seed plus the batch's number (a stratified draw: each batch rounds up
    on its own, so a file of many batches may list a few more than one draw would), and the listed rows' spectra
    are kept as they pass, for the history."""

    def __init__(self, share: float, decided_by: str = "", seed: int | None = None):
        self.share, self.decided_by = share, decided_by
        self.seed = secrets.randbelow(2**31) if seed is None else int(seed)
        self.parts: list[tuple[int, Worklist]] = []
        self.spectra: list[np.ndarray] = []
        self.band_names: list[str] | None = None

    def add(self, offset: int, ids, verdicts, reasons, lots, X: np.ndarray, band_names: list[str], decided_by: str):
        self.decided_by = decided_by
        self.band_names = list(band_names)
        part = build_worklist(
            "",
            list(ids),
            list(verdicts),
            list(reasons),
            lots,
            share=self.share,
            seed=self.seed + len(self.parts),
            decided_by=decided_by,
        )
        self.parts.append((offset, part))
        self.spectra.append(X[part.positions])

    def finish(self, run_id: str) -> tuple[Worklist, np.ndarray]:
        """The run's worklist (positions in the file's rows) and the listed rows' spectra, in the same order."""
        parts = [w for _, w in self.parts]
        return (
            Worklist(
                run_id=run_id,
                decided_by=self.decided_by,
                verify_share=float(self.share),
                seed=self.seed,
                cleared=sum(w.cleared for w in parts),
                called_above=sum(w.called_above for w in parts),
                positions=np.concatenate([w.positions + offset for offset, w in self.parts] or [np.zeros(0, int)]),
                purposes=[x for w in parts for x in w.purposes],
                ids=[x for w in parts for x in w.ids],
                lots=[x for w in parts for x in w.lots],
                verdicts=[x for w in parts for x in w.verdicts],
                reasons=[x for w in parts for x in w.reasons],
            ),
            np.vstack(self.spectra) if self.spectra else np.zeros((0, 0)),
        )


def worklist_frame(worklist: Worklist, id_column: str = ID_COLUMN) -> pd.DataFrame:
    """One row per listed sample, and the result columns left empty: the lab can fill them in and upload the file
    back as its results (`lab-results`), matched by the run id."""
    frame = pd.DataFrame(
        {
            id_column: worklist.ids,
            "lot": worklist.lots,
            "verdict": worklist.verdicts,
            "reason": worklist.reasons,
            "run_id": worklist.run_id,
            "listed_for": worklist.purposes,
        }
    )
    for name in RESULT_COLUMNS:
        frame[name] = ""
    return frame


def worklist_csv(worklist: Worklist, id_column: str = ID_COLUMN) -> bytes:
    """The worklist as CSV, written as the results are (formula-like cells quoted)."""
    return results_csv(worklist_frame(worklist, id_column))


def worklist_xlsx(worklist: Worklist, id_column: str = ID_COLUMN) -> bytes:
    """The worklist as one Excel sheet a LIMS imports (`worklist`), plus `run`: the draw that made it."""
    run = pd.DataFrame(
        [
            ("run_id", worklist.run_id),
            ("decided_by", worklist.decided_by),
            ("cleared_samples", worklist.cleared),
            ("above_samples", worklist.called_above),
            ("verify_share", worklist.verify_share),
            ("verify_seed", worklist.seed),
            ("listed_to_confirm", worklist.confirm_count),
            ("listed_to_verify", worklist.verify_count),
        ],
        columns=["item", "value"],
    )
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        sheet = neutralise_formulas(visible_text(worklist_frame(worklist, id_column)))
        sheet.to_excel(writer, sheet_name="worklist", index=False)
        run.astype(str).to_excel(writer, sheet_name="run", index=False)
    return buffer.getvalue()
