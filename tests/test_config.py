from pathlib import Path

import pytest

from don_predictor.config import Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.models_dir == Path("models") and settings.max_upload_rows == 100_000
    assert settings.history_db == Path("history/history.sqlite") and settings.history_retention_days == 0
    assert settings.log_level == "INFO" and settings.default_limit == "eu-unprocessed-maize"
    assert settings.password_hash == "" and (settings.false_compliant_rate, settings.false_suspect_rate) == (0.05, 0.05)


def test_values_from_the_environment():
    settings = Settings.from_env({"DON_MODELS_DIR": "/srv/models", "DON_MAX_UPLOAD_ROWS": "500"})
    assert settings.models_dir == Path("/srv/models") and settings.max_upload_rows == 500


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("DON_MAX_UPLOAD_ROWS", "lots", "DON_MAX_UPLOAD_ROWS must be a whole number, got 'lots'"),
        ("DON_MAX_UPLOAD_ROWS", "0", "DON_MAX_UPLOAD_ROWS must be at least 1, got 0"),
        ("DON_HISTORY_RETENTION_DAYS", "-3", "must be at least 0"),
        ("DON_LOG_LEVEL", "loud", "DON_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        ("DON_DEFAULT_LIMIT", "fda-2ppm", "DON_DEFAULT_LIMIT must be one of fda-1ppm"),
        ("DON_PASSWORD_HASH", "hunter2", "DON_PASSWORD_HASH must come from"),
        ("DON_FALSE_COMPLIANT_RATE", "five", "DON_FALSE_COMPLIANT_RATE must be a fraction such as 0.05"),
        ("DON_FALSE_COMPLIANT_RATE", "0", "must be above 0 and at most 0.5"),
        ("DON_FALSE_SUSPECT_RATE", "60%", "DON_FALSE_SUSPECT_RATE must be above 0 and at most 0.5"),
    ],
)
def test_bad_values_fail_with_a_clear_message(name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})


def test_more_values_from_the_environment():
    settings = Settings.from_env(
        {"DON_LOG_LEVEL": "debug", "DON_DEFAULT_LIMIT": "eu-feed-pigs", "DON_HISTORY_RETENTION_DAYS": "30"}
    )
    assert (settings.log_level, settings.default_limit, settings.history_retention_days) == (
        "DEBUG",
        "eu-feed-pigs",
        30,
    )


def test_risk_levels_as_fractions_or_percentages():
    settings = Settings.from_env({"DON_FALSE_COMPLIANT_RATE": "2.5%", "DON_FALSE_SUSPECT_RATE": "0.1"})
    assert settings.risk.false_compliant == pytest.approx(0.025) and settings.risk.false_suspect == 0.1
