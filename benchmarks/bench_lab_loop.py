"""Benchmark: the lab's loop simulated on the real dev data (issue 24).

A RandomForest is trained on 200 random rows of ../shared/data/corn_hsi_dev.csv; the other 200 are screened at the
EU maize limit (1,500 ppb) in 4 batches of 50, each recorded in a fresh history with its worklist (every
`send_to_lab` sample and a DON_VERIFY_SHARE of the cleared ones, seeded); the listed samples' true values go back
as lab results through lab.results. After each batch: the verified false-compliant rate with its one-sided 95 %
Clopper–Pearson bounds, against the model's offline (cross-validated) figure. At the end a second RandomForest is
trained on the 200 rows plus the lab-confirmed samples (lab.retraining), and both models' decided share at 1,500 ppb
is measured on the screened rows, cross-fitted so that no row is judged by a model trained on it (the confirmed
samples of batches 1-2 retrain the model judged on batches 3-4, and the other way round).

Run: make bench-lab-loop [LAB_SHARE=0.05] (about 5 minutes on 2 cores). The dev data is read, never copied.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from don_predictor.config import Settings  # noqa: E402
from don_predictor.lab.records import keep_for_lab  # noqa: E402
from don_predictor.lab.results import record_results  # noqa: E402
from don_predictor.lab.retraining import Confirmed, confirmed_samples, retraining_set  # noqa: E402
from don_predictor.lab.verification import lab_outcomes, verification_stats, worklist_runs  # noqa: E402
from don_predictor.modeling.quality import screening_at  # noqa: E402
from don_predictor.modeling.training import train_and_register  # noqa: E402
from don_predictor.scoring.frame import predict_table  # noqa: E402
from don_predictor.spectra.reader import read_spectra  # noqa: E402
from don_predictor.spectra.table import SpectraTable  # noqa: E402
from don_predictor.store.history import RunInfo, record_run  # noqa: E402
from don_predictor.store.registry import Registry  # noqa: E402
from don_predictor.trust.screening import ABOVE, BELOW  # noqa: E402

LIMIT_KEY, LIMIT_PPB = "eu-unprocessed-maize", 1500.0
BATCHES = 4


def rows_of(table: SpectraTable, index: np.ndarray) -> SpectraTable:
    """The table's rows at `index` (a clean file: the dev data has no row problems)."""
    return SpectraTable(
        ids=[table.ids[i] for i in index],
        id_column=table.id_column,
        band_names=table.band_names,
        X=table.X[index],
        target=table.target[index],
    )


def train(table: SpectraTable, registry: Registry, data: bytes, trees: int | None, backend: str = "rf"):
    params = {"seed": 0} | ({"n_estimators": trees} if trees and backend == "rf" else {})
    started = time.perf_counter()
    version = train_and_register(
        table, backend, registry, data_bytes=data, data_name="dev.csv", params=params, judged_limit_ppb=LIMIT_PPB
    )
    took = time.perf_counter() - started
    print(f"  trained {backend} on {table.n_rows} rows in {took:.0f} s: version {version.version}")
    return version


def decided(model, table: SpectraTable, risk, backend: str = "rf") -> tuple[float, int, int]:
    """Decided share at the limit, false-compliant calls, truly-above rows."""
    verdicts = predict_table(table, {backend: model}, LIMIT_PPB, risk)[f"{backend}_verdict"].to_numpy(object)
    above = table.target > LIMIT_PPB
    return float(np.isin(verdicts, [BELOW, ABOVE]).mean()), int(((verdicts == BELOW) & above).sum()), int(above.sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "corn_hsi_dev.csv"))
    parser.add_argument("--share", type=float, default=0.05, help="DON_VERIFY_SHARE for the worklists")
    parser.add_argument("--trees", type=int, help="RandomForest trees (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["rf", "tf"], default="rf")
    args = parser.parse_args()
    data = Path(args.data).read_bytes()
    full = read_spectra(data, require_target=True)
    order = np.random.default_rng(args.seed).permutation(full.n_rows)
    train_rows, screened_rows = np.sort(order[:200]), order[200:400]
    calibration = rows_of(full, train_rows)
    config = Settings.from_env({"DON_VERIFY_SHARE": str(args.share)})
    risk = config.risk
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "history.sqlite"
        registry = Registry(Path(tmp) / "models")
        print(
            f"lab loop on {Path(args.data).name}: 200 rows to train, 200 screened in {BATCHES} batches, "
            f"limit {LIMIT_PPB:,.0f} ppb, α {risk.false_compliant:.0%}, verify share {args.share:.0%}"
        )
        b = args.backend
        first = train(calibration, registry, data, args.trees, b)
        offline = screening_at(first.cv_metrics, LIMIT_PPB) or {}
        print(
            f"  offline (5-fold CV): decided {offline.get('decided', float('nan')):.1%}, false-compliant "
            f"{offline.get('false_compliant', float('nan')):.1%}"
        )
        model = registry.load(b, first.version)
        listed_rows: list[int] = []
        for number, batch in enumerate(np.array_split(screened_rows, BATCHES), start=1):
            table = rows_of(full, batch)
            results = predict_table(table, {b: model}, LIMIT_PPB, risk)
            info = RunInfo("bench", {b: first.version}, f"batch{number}.csv", f"{number:064d}", LIMIT_KEY)
            run_id = record_run(db, results, "hsi_id", info)
            worklist = keep_for_lab(
                db,
                run_id,
                table,
                results[f"{b}_verdict"].tolist(),
                decided_by=b,
                reasons=results[f"{b}_verdict_reason"].tolist(),
                seed=args.seed + number,
                config=config,
            )
            truth = dict(zip(table.ids, table.target, strict=True))
            lines = ["hsi_id,vomitoxin_ppb,method,run_id"] + [f"{i},{truth[i]:g},HPLC,{run_id}" for i in worklist.ids]
            report = record_results(db, ("\n".join(lines) + "\n").encode(), f"lab{number}.csv")
            listed_rows += [int(batch[p]) for p in worklist.positions]
            (found,) = verification_stats(lab_outcomes(db), risk.false_compliant, worklist_runs(db))
            rate = "n/a" if found.rate is None else f"{found.rate:.1%}"
            offline_fc = offline.get("false_compliant", float("nan"))
            inside = found.lower <= offline_fc <= found.upper
            print(
                f"batch {number}: {worklist.confirm_count} to confirm, {worklist.verify_count} of {worklist.cleared} "
                f"cleared to verify; {report.matched} lab results matched | so far {found.truly_above} of "
                f"{found.verified} verified cleared were above, {found.confirmed_above} confirmed above among the "
                f"rest, {found.cleared} cleared: false-compliant rate {rate}, 95 % bounds [{found.lower:.1%}, "
                f"{found.upper:.1%}] (offline {offline_fc:.1%}: {'inside' if inside else 'OUTSIDE'}), state "
                f"{found.state}; above calls {found.above_confirmed}/{found.above_calls} confirmed; send_to_lab MAE "
                f"{found.sent_mae_ppb or float('nan'):,.0f} ppb"
            )
        truly = decided(model, rows_of(full, screened_rows), risk, b)
        print(
            f"  true false-compliant rate on all 200 screened rows (known to the simulation only): {truly[1]} of "
            f"{truly[2]} truly above called below"
        )
        # Cross-fitted, so that no row is judged by a model trained on it: the samples the lab confirmed in batches
        # 1-2 retrain the model that screens batches 3-4, and the other way round.
        halves = np.array_split(screened_rows, 2)
        confirmed = confirmed_samples(db)
        pooled = {"200-row model": [], "retrained": []}
        for half, other in ((halves[1], halves[0]), (halves[0], halves[1])):
            ids = {full.ids[i] for i in other}
            retrain, summary = retraining_set(calibration, only(confirmed, ids))
            for line in summary.lines():
                print(f"  retraining set: {line}")
            second = train(retrain, registry, data, args.trees, b)
            target = rows_of(full, half)
            pooled["200-row model"].append(decided(model, target, risk, b))
            pooled["retrained"].append(decided(registry.load(b, second.version), target, risk, b))
        print(
            f"decided share at {LIMIT_PPB:,.0f} ppb on the 200 screened rows, each judged by a model not trained on it:"
        )
        shares = {}
        for name, parts in pooled.items():
            shares[name] = sum(p[0] for p in parts) / len(parts)  # the halves are the same size
            wrong, above = sum(p[1] for p in parts), sum(p[2] for p in parts)
            print(f"  {name}: decided {shares[name]:.1%}; truly above called below {wrong} of {above}")
        print(f"  change: {100 * (shares['retrained'] - shares['200-row model']):+.1f} points")


def only(confirmed: Confirmed, ids: set[str]) -> Confirmed:
    keep = [i for i, sample in enumerate(confirmed.ids) if sample in ids]
    return Confirmed(
        ids=[confirmed.ids[i] for i in keep],
        X=[confirmed.X[i] for i in keep],
        bands=[confirmed.bands[i] for i in keep],
        measured_ppb=confirmed.measured_ppb[keep],
        in_domain=[confirmed.in_domain[i] for i in keep],
    )


if __name__ == "__main__":
    main()
