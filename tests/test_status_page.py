"""The Status page's backup actions, as an admin uses them: import a model zip (checked, audited, not activated) and
see a damaged one refused with the reason."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from don_predictor.config import Settings
from don_predictor.store.backup import export_version
from don_predictor.store.history import list_audit
from don_predictor.store.registry import Registry

APP = str(ROOT / "app.py")


@pytest.fixture()
def status_page(tmp_path, monkeypatch):
    """The Status page of an app whose registry is empty."""
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path / "models"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/status.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def import_on_page(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="import_zip").set_value((name, data, "application/zip"))
    at.run()
    at.button(key="import_button").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_an_imported_zip_is_added_not_activated_and_audited(status_page, trained_registry, tmp_path):
    active = trained_registry.active("rf")
    data = export_version(trained_registry, "rf", active.version)
    at = import_on_page(status_page, "rf_backup.zip", data)
    assert any(f"Imported RF version {active.version}" in s.value for s in at.success)
    registry = Registry(tmp_path / "models")
    assert [v.version for v in registry.versions("rf")] == [active.version]
    assert registry.active_version("rf") is None  # activation is a separate, reviewed step
    audit = list_audit(Settings.from_env().history_db)
    assert any(row.action == "import" and active.version in str(row.detail) for row in audit.itertuples())


def test_a_damaged_zip_is_refused_with_its_reason_and_nothing_is_added(status_page, trained_registry, tmp_path):
    data = export_version(trained_registry, "rf", trained_registry.active_version("rf"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    model_file = next(name for name in files if name.endswith(".skops"))
    files[model_file] = files[model_file][:-10] + b"0123456789"  # the bytes no longer match their checksum
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    at = import_on_page(status_page, "damaged.zip", damaged.getvalue())
    assert any(e.value.startswith("Refused:") and "checksum does not match" in e.value for e in at.error)
    assert Registry(tmp_path / "models").versions("rf") == []
    audit = list_audit(Settings.from_env().history_db)
    assert any(row.action == "import_refused" and "damaged.zip" in str(row.detail) for row in audit.itertuples())


def test_exports_are_built_only_on_the_click_and_nothing_big_is_kept(
    trained_registry, tmp_path, monkeypatch, downloads
):
    import shutil

    import don_predictor.store.backup
    import don_predictor.store.history
    from don_predictor.store.history import list_runs

    shutil.copytree(trained_registry.root, tmp_path / "models")
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    built = []
    for module, name in ((don_predictor.store.backup, "export_version"), (don_predictor.store.history, "backup_bytes")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **k: built.append(_name) or _real(*a, **k))
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path / "models"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/status.py")
    at.run()
    at.run()  # a rerun (any click elsewhere) builds nothing either
    assert not at.exception, [e.message for e in at.exception]
    assert built == []  # neither the model zip nor the database copy is made by a page run
    # Nothing the size of a database or a zip sits in the session.
    held = {key: len(value) for key, value in at.session_state.items() if isinstance(value, (bytes, bytearray))}
    assert held == {}, held

    version = at.selectbox(key="export_version").value  # the version the page offers first (newest), not the active
    assert version in [v.version for v in trained_registry.versions("rf")]
    zip_data, zip_click = downloads["Download the zip"]
    db_data, db_click = downloads["Download a copy of the history database"]
    assert callable(zip_data) and callable(db_data) and zip_click == db_click == "ignore"

    archive = zip_data()  # the click: built now, audited now
    assert built == ["export_version"]
    fresh = Registry(tmp_path / "restored")
    from don_predictor.store.backup import import_version

    assert import_version(fresh, archive).version == version
    audit = list_audit(tmp_path / "history.sqlite")
    assert any(row.action == "export" and version in str(row.detail) for row in audit.itertuples())

    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(db_data())
    assert built == ["export_version", "backup_bytes"]
    assert list_runs(copy).empty and "export" in list_audit(copy)["action"].tolist()  # a working copy, up to now


def test_the_audit_detail_reads_as_one_line():
    from don_predictor.store.audit import readable_detail

    stored = json.dumps({"backend": "rf", "version": "v2", "previous": "v1", "reason": ""})
    assert readable_detail(stored) == "backend rf · version v2 · previous v1"  # empty fields left out
    assert readable_detail(None) == "" and readable_detail("not json") == "not json"
