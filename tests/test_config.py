from pathlib import Path

import pytest

from don_predictor.config import Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.models_dir == Path("models") and settings.max_upload_rows == 100_000


def test_values_from_the_environment():
    settings = Settings.from_env({"DON_MODELS_DIR": "/srv/models", "DON_MAX_UPLOAD_ROWS": "500"})
    assert settings.models_dir == Path("/srv/models") and settings.max_upload_rows == 500


@pytest.mark.parametrize("value,message", [("lots", "must be a whole number"), ("0", "must be at least 1")])
def test_bad_values_fail_with_a_clear_message(value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"DON_MAX_UPLOAD_ROWS": value})
