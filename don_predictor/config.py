"""Settings from the environment, in one place, with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("rf", "tf")
TARGET_COLUMN = "vomitoxin_ppb"
ID_COLUMN = "hsi_id"
SCREENING_LIMIT_PPB = 1000.0  # FDA advisory 1 ppm: the default line users screen against


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True)
class Settings:
    models_dir: Path  # DON_MODELS_DIR, default ./models
    max_upload_rows: int  # DON_MAX_UPLOAD_ROWS, default 100000

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw_rows = env.get("DON_MAX_UPLOAD_ROWS", "100000")
        try:
            max_rows = int(raw_rows)
        except ValueError:
            raise SettingsError(f"DON_MAX_UPLOAD_ROWS must be a whole number, got {raw_rows!r}") from None
        if max_rows < 1:
            raise SettingsError(f"DON_MAX_UPLOAD_ROWS must be at least 1, got {max_rows}")
        return cls(models_dir=Path(env.get("DON_MODELS_DIR") or "models"), max_upload_rows=max_rows)


def settings() -> Settings:
    return Settings.from_env()
