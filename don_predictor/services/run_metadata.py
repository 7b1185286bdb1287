"""What produced a results file, saved beside it (the JSON sidecar, the workbook's run sheet, the report)."""

from __future__ import annotations

import datetime as dt

from don_predictor.trust.screening import Risk, Thresholds


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
