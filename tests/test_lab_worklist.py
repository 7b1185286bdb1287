"""The lab worklist: every send_to_lab sample, a seeded share of the cleared ones (rounded up), as CSV and Excel."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from don_predictor.config import Settings, SettingsError
from don_predictor.lab.worklist import CONFIRM, VERIFY, build_worklist, verify_count, worklist_csv, worklist_xlsx


def _run(n_below: int, n_lab: int = 3, n_above: int = 2):
    verdicts = ["below"] * n_below + ["send_to_lab"] * n_lab + ["above"] * n_above + [""]
    ids = [f"s{i}" for i in range(len(verdicts))]
    reasons = [f"reason {i}" for i in range(len(verdicts))]
    lots = [f"lot{i % 3}" for i in range(len(verdicts))]
    return ids, verdicts, reasons, lots


@pytest.mark.parametrize(
    ("cleared", "share", "expected"),
    [
        (0, 0.05, 0),
        (1, 0.05, 1),
        (10, 0.05, 1),
        (100, 0.05, 5),
        (101, 0.05, 6),
        (100, 0.0, 0),
        (7, 1.0, 7),
        (20, 0.1, 2),
    ],
)
def test_the_share_is_rounded_up(cleared, share, expected):
    assert verify_count(cleared, share) == expected


def test_every_send_to_lab_sample_and_a_seeded_share_of_the_cleared_ones():
    ids, verdicts, reasons, lots = _run(100)
    listed = build_worklist("r1", ids, verdicts, reasons, lots, share=0.05, seed=7, decided_by="rf")
    confirm = [i for i, p in zip(listed.ids, listed.purposes, strict=True) if p == CONFIRM]
    verify = [i for i, p in zip(listed.ids, listed.purposes, strict=True) if p == VERIFY]
    assert confirm == ["s100", "s101", "s102"]
    assert len(verify) == 5 and all(verdicts[int(i[1:])] == "below" for i in verify)
    assert listed.cleared == 100 and listed.seed == 7 and listed.verify_share == 0.05
    assert list(listed.positions) == sorted(listed.positions)  # in the run's order
    at = int(listed.positions[0])
    assert listed.reasons[0] == reasons[at] and listed.lots[0] == lots[at]
    again = build_worklist("r1", ids, verdicts, reasons, lots, share=0.05, seed=7, decided_by="rf")
    assert again.ids == listed.ids  # the seed reproduces the draw
    other = build_worklist("r1", ids, verdicts, reasons, lots, share=0.05, seed=8, decided_by="rf")
    assert other.ids != listed.ids


def test_the_draw_is_uniform_over_the_cleared_samples():
    ids, verdicts, _, _ = _run(20, n_lab=0, n_above=0)
    counts = np.zeros(21)
    for seed in range(2000):
        for p in build_worklist("r", ids, verdicts, share=0.1, seed=seed, decided_by="rf").positions:
            counts[p] += 1
    assert counts[20] == 0  # the unscored row is never drawn
    assert counts[:20].sum() == 4000 and counts[:20].min() > 140 and counts[:20].max() < 260  # 200 each expected


def test_a_seed_is_drawn_and_recorded_when_none_is_given():
    ids, verdicts, _, _ = _run(30)
    listed = build_worklist("r", ids, verdicts, share=0.05, decided_by="both")
    assert isinstance(listed.seed, int) and 0 <= listed.seed < 2**31
    assert build_worklist("r", ids, verdicts, share=0.05, seed=listed.seed, decided_by="both").ids == listed.ids


def test_csv_and_excel_carry_the_list_for_a_lims():
    ids, verdicts, reasons, lots = _run(40)
    ids[40] = "=cmd|' /C calc'!A0"  # a send_to_lab id a spreadsheet would run
    listed = build_worklist("run-9", ids, verdicts, reasons, lots, share=0.05, seed=1, decided_by="rf")
    frame = pd.read_csv(io.BytesIO(worklist_csv(listed, id_column="sample")), dtype=str, keep_default_na=False)
    assert list(frame.columns[:6]) == ["sample", "lot", "verdict", "reason", "run_id", "listed_for"]
    assert {"vomitoxin_ppb", "method", "date", "uncertainty_ppb"} <= set(frame.columns)
    assert frame.loc[frame["listed_for"] == "confirm", "sample"].iloc[0].startswith("'=") and set(frame["run_id"]) == {
        "run-9"
    }
    assert frame["listed_for"].tolist().count("verify") == 2 and frame["listed_for"].tolist().count("confirm") == 3
    sheets = pd.read_excel(io.BytesIO(worklist_xlsx(listed)), sheet_name=None, dtype=str)
    assert len(sheets["worklist"]) == 5
    run = dict(zip(sheets["run"]["item"], sheets["run"]["value"], strict=True))
    assert run["verify_seed"] == "1" and run["verify_share"] == "0.05" and run["cleared_samples"] == "40"
    assert run["above_samples"] == "2" and listed.called_above == 2


def test_the_verify_share_setting():
    assert Settings.from_env({}).verify_share == 0.05
    assert Settings.from_env({"DON_VERIFY_SHARE": "10%"}).verify_share == 0.1
    assert Settings.from_env({"DON_VERIFY_SHARE": "0"}).verify_share == 0.0
    for bad in ("1.5", "-0.1", "lots", "nan"):
        with pytest.raises(SettingsError, match="DON_VERIFY_SHARE"):
            Settings.from_env({"DON_VERIFY_SHARE": bad})
