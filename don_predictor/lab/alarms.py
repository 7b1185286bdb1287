"""What the lab's loop says is wrong now, in one sentence each, for the Status page: the screen's verified
false-compliant rate over α (the evidence, not a hunch: the lower 95 % bound) and a check sample breaking a
Westgard rule on its newest prediction. The same states feed the Prometheus alerts (services/history_gauges.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from don_predictor.config import BACKENDS
from don_predictor.lab.check_samples import check_sample_series, latest_violations
from don_predictor.lab.verification import ALARM, current_model_rows, lab_outcomes, verification_stats, worklist_runs
from don_predictor.scoring.run import JOINT

DAYS = 365


def lab_alarms(db: str | Path, alpha: float, check_pattern: str, now: datetime | None = None) -> list[str]:
    since = (now or datetime.now(UTC)) - timedelta(days=DAYS)
    out = []
    for item in verification_stats(current_model_rows(lab_outcomes(db, since)), alpha, worklist_runs(db, since)):
        if item.state == ALARM:
            who = "BOTH" if item.decided_by == JOINT else item.decided_by.upper()
            out.append(
                f"the screen clears too many contaminated samples: {who} at {item.limit_ppb:,.0f} ppb, {item.message}"
            )
    if check_pattern:
        for backend in BACKENDS:
            if broken := latest_violations(check_sample_series(db, check_pattern, backend, since)):
                out.append(
                    f"the newest check sample ({backend.upper()}) breaks the Westgard rule "
                    f"{', '.join(broken)}: check the instrument before screening more"
                )
    return out
