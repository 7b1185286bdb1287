"""Settings from the environment, in one place, with documented defaults. Invalid values fail at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("rf", "tf")
TARGET_COLUMN = "vomitoxin_ppb"
ID_COLUMN = "hsi_id"
LOT_COLUMNS = ("lot", "lot_id")  # an optional column that groups samples into lots
# The threshold of the CV classification metrics (ROC AUC, sensitivity) stored with every model: FDA advisory 1 ppm.
# Only modeling.evaluation uses it, never as a verdict's limit: that default is settings().default_limit_ppb
# (DON_DEFAULT_LIMIT, EU unprocessed maize, 1,500 ppb).
CV_CLASSIFICATION_LIMIT_PPB = 1000.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# name: (default, meaning) — README.md's settings table says the same.
ENVIRONMENT = {
    "DON_MODELS_DIR": ("models", "the model registry directory"),
    "DON_HISTORY_DB": ("history/history.sqlite", "SQLite file of the prediction history (created on first use)"),
    "DON_HISTORY_URL": (
        "",
        "history database URL (postgresql+psycopg://user:pass@host/db); empty: DON_HISTORY_DB",
    ),
    "DON_HISTORY_RETENTION_DAYS": ("0", "delete runs older than this many days at start; 0 keeps everything"),
    "DON_METRICS_PORT": ("0", "port of this process's Prometheus /metrics endpoint; 0: no metrics"),
    "DON_DRIFT_THRESHOLD": ("0.25", "drift score (PSI) above which the Monitoring page and the alert warn"),
    "DON_LOG_LEVEL": ("INFO", "DEBUG, INFO, WARNING or ERROR; logs go to stdout"),
    "DON_MAX_UPLOAD_ROWS": ("100000", "largest upload accepted, in rows"),
    "DON_DASK_WORKER_TIMEOUT": ("60", "predict --engine dask: seconds to wait for a first worker to join"),
    "DON_SCORING_CONCURRENCY": ("1", "uploads scored at once in one process (the others queue, told their place)"),
    "DON_SCORING_MAX_ROWS": ("100000", "rows being scored at once in one process (a bigger upload runs alone)"),
    "DON_USER_ROWS_PER_MINUTE": ("20000", "rows one user (or session, without a login) may score a minute; 0: no cap"),
    "DON_SCORING_QUEUE_MAX": ("20", "uploads waiting at once; more are told the app is busy"),
    "DON_SCORING_QUEUE_TIMEOUT": ("120", "seconds an upload may wait for its turn before it is told to come back"),
    "DON_DEFAULT_LIMIT": ("eu-unprocessed-maize", "the limit verdicts use until a user picks another"),
    "DON_FALSE_COMPLIANT_RATE": ("0.05", "α: the largest share of truly-above samples the verdicts may call below"),
    "DON_FALSE_SUSPECT_RATE": ("0.05", "β: the largest share of truly-below samples the verdicts may call above"),
    "DON_PASSWORD_HASH": ("", "scrypt hash from `python -m don_predictor hash-password`; empty: no login"),
    "DON_USERS_FILE": ("", "TOML file of users, their scrypt hashes and roles (viewer, analyst, admin); empty: none"),
    "DON_OIDC_ROLE_CLAIM": ("", "with OIDC: the claim holding the user's role(s); empty: use the allow-lists"),
    "DON_ADMINS": ("", "with OIDC: comma-separated e-mail addresses of admins"),
    "DON_ANALYSTS": ("", "with OIDC: comma-separated e-mail addresses of analysts (others are viewers)"),
    "DON_VERIFY_SHARE": ("0.05", "share of cleared (below) samples of each run sent to the lab to verify the screen"),
    "DON_LAB_SPECTRA_MAX": ("20000", "spectra of lab-worklist samples the history keeps for retraining, at most"),
    "DON_LAB_SPECTRA_RETENTION_DAYS": ("730", "days the history keeps those spectra; 0 keeps them until the cap"),
    "DON_CHECK_SAMPLE_PATTERN": ("", "glob on the sample id marking a lab's daily check sample (QC-*); empty: none"),
}


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True)
class Settings:
    models_dir: Path
    history_db: Path | str  # the SQLite file, or the DON_HISTORY_URL string when that is set
    history_retention_days: int
    log_level: str
    max_upload_rows: int
    default_limit: str
    password_hash: str
    users_file: Path | None = None
    oidc_role_claim: str = ""
    admins: frozenset[str] = frozenset()
    analysts: frozenset[str] = frozenset()
    false_compliant_rate: float = 0.05
    false_suspect_rate: float = 0.05
    metrics_port: int = 0
    drift_threshold: float = 0.25
    dask_worker_timeout: float = 60.0
    scoring_concurrency: int = 1
    scoring_max_rows: int = 100_000
    user_rows_per_minute: int = 20_000
    scoring_queue_max: int = 20
    scoring_queue_timeout: float = 120.0
    verify_share: float = 0.05
    lab_spectra_max: int = 20_000
    lab_spectra_retention_days: int = 730
    check_sample_pattern: str = ""

    @property
    def risk(self):
        """The verdicts' risk levels as a screening.Risk."""
        from don_predictor.trust.screening import Risk

        return Risk(self.false_compliant_rate, self.false_suspect_rate)

    @property
    def default_limit_ppb(self) -> float:
        """The default limit's value: the limit a model version's screening figures are judged at."""
        from don_predictor.trust.limits import get_limit

        return get_limit(self.default_limit).ppb

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return (env.get(name) or ENVIRONMENT[name][0]).strip()

        log_level = get("DON_LOG_LEVEL").upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"DON_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
        default_limit = get("DON_DEFAULT_LIMIT")
        from don_predictor.trust.limits import LIMITS

        keys = [limit.key for limit in LIMITS]
        if default_limit not in keys:
            raise SettingsError(f"DON_DEFAULT_LIMIT must be one of {', '.join(keys)}, got {default_limit!r}")
        password_hash = get("DON_PASSWORD_HASH")
        if password_hash and not password_hash.startswith("scrypt$"):
            raise SettingsError("DON_PASSWORD_HASH must come from `python -m don_predictor hash-password`")
        return cls(
            models_dir=Path(get("DON_MODELS_DIR")),
            history_db=_history_location(get("DON_HISTORY_URL"), get("DON_HISTORY_DB")),
            history_retention_days=_whole_number(get("DON_HISTORY_RETENTION_DAYS"), "DON_HISTORY_RETENTION_DAYS", 0),
            log_level=log_level,
            max_upload_rows=_whole_number(get("DON_MAX_UPLOAD_ROWS"), "DON_MAX_UPLOAD_ROWS", 1),
            default_limit=default_limit,
            password_hash=password_hash,
            users_file=Path(get("DON_USERS_FILE")) if get("DON_USERS_FILE") else None,
            oidc_role_claim=get("DON_OIDC_ROLE_CLAIM"),
            admins=_addresses(get("DON_ADMINS")),
            analysts=_addresses(get("DON_ANALYSTS")),
            false_compliant_rate=_rate(get("DON_FALSE_COMPLIANT_RATE"), "DON_FALSE_COMPLIANT_RATE"),
            false_suspect_rate=_rate(get("DON_FALSE_SUSPECT_RATE"), "DON_FALSE_SUSPECT_RATE"),
            metrics_port=_whole_number(get("DON_METRICS_PORT"), "DON_METRICS_PORT", 0),
            drift_threshold=_positive(get("DON_DRIFT_THRESHOLD"), "DON_DRIFT_THRESHOLD"),
            dask_worker_timeout=_positive(get("DON_DASK_WORKER_TIMEOUT"), "DON_DASK_WORKER_TIMEOUT"),
            scoring_concurrency=_whole_number(get("DON_SCORING_CONCURRENCY"), "DON_SCORING_CONCURRENCY", 1),
            scoring_max_rows=_whole_number(get("DON_SCORING_MAX_ROWS"), "DON_SCORING_MAX_ROWS", 1),
            user_rows_per_minute=_whole_number(get("DON_USER_ROWS_PER_MINUTE"), "DON_USER_ROWS_PER_MINUTE", 0),
            scoring_queue_max=_whole_number(get("DON_SCORING_QUEUE_MAX"), "DON_SCORING_QUEUE_MAX", 1),
            scoring_queue_timeout=_positive(get("DON_SCORING_QUEUE_TIMEOUT"), "DON_SCORING_QUEUE_TIMEOUT"),
            verify_share=_share(get("DON_VERIFY_SHARE"), "DON_VERIFY_SHARE"),
            lab_spectra_max=_whole_number(get("DON_LAB_SPECTRA_MAX"), "DON_LAB_SPECTRA_MAX", 0),
            lab_spectra_retention_days=_whole_number(
                get("DON_LAB_SPECTRA_RETENTION_DAYS"), "DON_LAB_SPECTRA_RETENTION_DAYS", 0
            ),
            check_sample_pattern=get("DON_CHECK_SAMPLE_PATTERN"),
        )


def _history_location(url: str, db: str) -> Path | str:
    if not url:
        return Path(db)
    if not url.startswith(("sqlite:///", "postgresql")) or "://" not in url:
        raise SettingsError(
            f"DON_HISTORY_URL must be a sqlite:/// or postgresql+psycopg:// URL, got {url.split('@')[-1]!r}"
        )
    return url


def _whole_number(raw: str, name: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _positive(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number such as 0.25, got {raw!r}") from None
    if not 0 < value < float("inf"):
        raise SettingsError(f"{name} must be above 0, got {raw!r}")
    return value


def _rate(raw: str, name: str) -> float:
    """A risk level: a fraction above 0 and at most 0.5 (`0.05`), or a percentage (`5%`)."""
    value = _fraction(raw, name)
    if not 0 < value <= 0.5:
        raise SettingsError(f"{name} must be above 0 and at most 0.5 (50 %), got {raw!r}")
    return value


def _fraction(raw: str, name: str) -> float:
    text = raw.replace(" ", "")
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a fraction such as 0.05 (or 5%), got {raw!r}") from None


def _share(raw: str, name: str) -> float:
    """A share from 0 (verify nothing) to 1 (every cleared sample): `0.05` or `5%`."""
    value = _fraction(raw, name)
    if not 0 <= value <= 1:
        raise SettingsError(f"{name} must be from 0 to 1 (100 %), got {raw!r}")
    return value


def _addresses(raw: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def settings() -> Settings:
    return Settings.from_env()
