"""A lab's daily check sample: one reference material scanned every day, its id matching DON_CHECK_SAMPLE_PATTERN
(a glob, case-sensitive: `QC-*`, `CHK-??`; a glob because a lab writes ids, not regular expressions). Its
predictions should stay put; Westgard-style rules on them flag the instrument or the model moving:

- 1-3s: one prediction more than 3 SD from the mean;
- 2-2s: two in a row more than 2 SD from the mean on the same side;
- R-4s: two in a row on opposite sides, one over +2 SD and the other under -2 SD;
- 10x: ten in a row on the same side of the mean.

The mean and SD are the running ones: of every earlier prediction of the series (at least MIN_BASELINE of them; the
first predictions only build the baseline), so a point is judged against what came before it, not against itself."""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, select

from don_predictor.store.history import tables as t
from don_predictor.store.history.db import engine
from don_predictor.store.history.store import plain_errors

MIN_BASELINE = 10
RULES = ("1-3s", "2-2s", "R-4s", "10x")


def is_check_sample(sample_id: str, pattern: str) -> bool:
    return bool(pattern) and fnmatch.fnmatchcase(sample_id, pattern)


def westgard(values: np.ndarray, min_baseline: int = MIN_BASELINE) -> pd.DataFrame:
    """Per prediction, in time order: the running mean and SD before it, its z-score, and the rules it breaks
    (a "; "-joined text, empty when none)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean, sd = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(min_baseline, n):
        mean[i], sd[i] = x[:i].mean(), x[:i].std(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (x - mean) / sd, np.nan)
    broken: list[list[str]] = [[] for _ in range(n)]
    for i in range(n):
        if not np.isfinite(z[i]):
            continue
        if abs(z[i]) > 3:
            broken[i].append("1-3s")
        previous = z[i - 1] if i > 0 else np.nan
        if np.isfinite(previous):
            if (z[i] > 2 and previous > 2) or (z[i] < -2 and previous < -2):
                broken[i].append("2-2s")
            if max(z[i], previous) > 2 and min(z[i], previous) < -2:
                broken[i].append("R-4s")
        last = z[max(0, i - 9) : i + 1]
        if i >= 9 and np.isfinite(last).all() and ((last > 0).all() or (last < 0).all()):
            broken[i].append("10x")
    return pd.DataFrame({"value": x, "mean": mean, "sd": sd, "z": z, "rules": ["; ".join(b) for b in broken]})


def latest_violations(chart: pd.DataFrame) -> list[str]:
    """The rules the newest prediction breaks: what Status and an alert show."""
    return [] if chart.empty or not chart["rules"].iloc[-1] else chart["rules"].iloc[-1].split("; ")


@plain_errors
def check_sample_series(db: str | Path, pattern: str, backend: str, since: datetime | None = None) -> pd.DataFrame:
    """Every scored prediction of `backend` for ids matching the pattern, oldest first, with its Westgard check."""
    columns = ["time", "run_id", "sample_id", "value", "mean", "sd", "z", "rules"]
    if not pattern:
        return pd.DataFrame(columns=columns)
    r, s, res = t.runs, t.samples, t.results
    prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    query = (
        select(r.c.created_at, r.c.run_id, s.c.sample_id, res.c.ppb)
        .join(s, s.c.run_id == r.c.run_id)
        .join(res, and_(res.c.run_id == s.c.run_id, res.c.position == s.c.position))
        .where(
            res.c.backend == backend,
            res.c.ppb.is_not(None),
            *(
                [func.substr(s.c.sample_id, 1, len(prefix)) == prefix] if prefix else []
            ),  # a prefilter: the glob is applied below
            *([r.c.created_at >= since] if since else []),
        )
        .order_by(r.c.created_at, r.c.run_id, s.c.position)
    )
    with engine(db).connect() as connection:
        rows = [tuple(row) for row in connection.execute(query)]
    found = pd.DataFrame(rows, columns=["time", "run_id", "sample_id", "ppb"])
    # A boolean array, not a list: an empty list would select no columns rather than no rows.
    matching = np.array([is_check_sample(str(i), pattern) for i in found["sample_id"]], dtype=bool)
    found = found[matching].reset_index(drop=True)
    chart = westgard(found["ppb"].to_numpy(float))
    found["time"] = pd.to_datetime(found["time"], utc=True)
    return pd.concat([found.drop(columns="ppb"), chart], axis=1)[columns]


def refresh_check_sample_metrics(db: str | Path, pattern: str, backends: list[str]) -> dict[str, list[str]]:
    """The don_check_sample_violations gauge per backend: rules broken by its newest check-sample prediction."""
    from don_predictor.services import metrics

    out = {}
    for backend in backends:
        out[backend] = latest_violations(check_sample_series(db, pattern, backend))
        metrics.CHECK_SAMPLE_VIOLATIONS.labels(backend).set(len(out[backend]))
    return out
