"""Hostile uploads through the Streamlit pages (AppTest): a clear error, never an exception element or a path.

Refused files go to Compare, whose TF version here is a stand-in (the RF bundle under a tf manifest): a refused
file never reaches a model, so no TensorFlow is imported. Files that are read and scored go to the RF page.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ROOT, as_read
from streamlit.testing.v1 import AppTest
from test_hostile import READABLE, REFUSED, upload_with_id_header

from don_predictor.modeling.training import train_and_register
from don_predictor.store import governance
from don_predictor.store.registry import Registry

APP = str(ROOT / "app.py")
TIMEOUT = 60


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, demo_table, demo_calibration):
    """An active small RF, and an active 'tf' version that is the RF bundle under a tf manifest (never loaded)."""
    registry = Registry(tmp_path_factory.mktemp("hostile_app_models"))
    rf = train_and_register(
        demo_table,
        "rf",
        registry,
        data_bytes=demo_calibration.read_bytes(),
        data_name="demo",
        params={"n_estimators": 10},
        cv_folds=3,
    )
    stand_in = registry.root / "tf" / rf.version
    shutil.copytree(rf.path, stand_in)
    manifest = json.loads((stand_in / "manifest.json").read_text())
    (stand_in / "manifest.json").write_text(json.dumps({**manifest, "backend": "tf"}))
    governance.activate_unreviewed(registry, "tf", rf.version)
    return registry.root


@pytest.fixture()
def app(models_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DON_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def upload(at: AppTest, page: str, key: str, name: str, data: bytes) -> AppTest:
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    at.file_uploader(key=key).set_value((name, data, "text/csv"))
    at.run()
    return at


def shown_text(at: AppTest) -> str:
    parts = [e.value for e in (*at.error, *at.warning, *at.markdown, *at.caption)]
    return "\n".join(str(p) for p in parts)


def assert_no_server_path(at: AppTest) -> None:
    text = shown_text(at)
    for path in (str(ROOT), "site-packages", "Traceback", "/tmp/"):
        assert path not in text, (path, text)


COMPARE_CASES = [case for case in REFUSED if case[0] != "an HTML page"]  # every refusal, but one duplicate kind


@pytest.mark.parametrize("name,data,message", COMPARE_CASES, ids=[c[0] for c in COMPARE_CASES])
def test_compare_refuses_each_hostile_file_with_a_clear_error(app, name, data, message):
    at = upload(app, "pages/compare.py", "compare_file", "hostile.csv", data)
    assert not at.exception, [e.message for e in at.exception]
    errors = [as_read(e.value) for e in at.error]
    assert any("**hostile.csv** cannot be used:" in e and message in e for e in errors), errors
    assert not [df for df in at.dataframe if "status" in df.value.columns], "no results for a refused file"
    assert_no_server_path(at)


def test_compare_refuses_too_many_rows_before_reading_them(app, monkeypatch, demo_upload):
    monkeypatch.setenv("DON_MAX_UPLOAD_ROWS", "10")
    at = upload(app, "pages/compare.py", "compare_file", "big.csv", demo_upload.read_bytes())
    assert not at.exception
    assert any("more than 10 rows; this app accepts at most 10" in e.value for e in at.error), [
        e.value for e in at.error
    ]


READ_ON_RF_PAGE = [
    case
    for case in READABLE
    if case[0]
    in {
        "comma-delimited with quoted decimal commas",
        "UTF-16 LE with byte-order mark",
        "latin-1 byte 0x85 in the id header",
        "1e300 and -1e300 in one row: not flat, no overflow warning",
        "formula-looking id header",
    }
]


@pytest.mark.parametrize("name,data,expect", READ_ON_RF_PAGE, ids=[c[0] for c in READ_ON_RF_PAGE])
def test_awkward_but_readable_files_reach_a_clear_band_error(app, name, data, expect):
    """These 5-band files are read; the 448-band model then refuses them by naming the bands, not by a traceback."""
    at = upload(app, "pages/rf.py", "rf_file", "awkward.csv", data)
    assert not at.exception, [e.message for e in at.exception]
    assert any(
        "does not fit the RandomForest model" in e.value and "missing '5'" in e.value and "rows was scored" in e.value
        for e in at.error
    ), [e.value for e in at.error]
    for fragment in expect.get("warnings", []):
        assert any(fragment in w.value for w in at.warning), [w.value for w in at.warning]
    assert_no_server_path(at)


@pytest.mark.parametrize("name", ["status", "rf_ppb"])
def test_an_id_column_named_like_a_results_column_keeps_its_ids_on_the_page_and_in_the_history(
    app, demo_upload, tmp_path, name
):
    from don_predictor.store.history import list_runs, run_rows

    at = upload(app, "pages/rf.py", "rf_file", "ids.csv", upload_with_id_header(demo_upload, name))
    assert not at.exception, [e.message for e in at.exception]
    assert any(f"the results call it 'input_{name}'" in as_read(w.value) for w in at.warning), [
        w.value for w in at.warning
    ]
    results = next(df.value for df in at.dataframe if "status" in df.value.columns)
    assert results[f"input_{name}"].iloc[0] == "upload_0000" and (results["status"] == "ok").all()
    db = tmp_path / "history.sqlite"
    rows = run_rows(db, list_runs(db).iloc[0]["run_id"])
    assert rows["sample_id"].iloc[0] == "upload_0000" and rows["status"].eq("ok").all()


def test_1e300_spectra_are_scored_out_of_domain_without_exception(app, demo_upload):
    lines = demo_upload.read_text().splitlines()
    cells = lines[1].split(",")
    cells[1:] = ["1e300", "0.5"] * ((len(cells) - 1) // 2)
    lines[1] = ",".join(cells)
    at = upload(app, "pages/rf.py", "rf_file", "huge.csv", ("\n".join(lines) + "\n").encode())
    assert not at.exception, [e.message for e in at.exception]
    results = next(df.value for df in at.dataframe if "status" in df.value.columns)
    assert len(results) == 50 and results["rf_in_domain"].iloc[0] == False  # noqa: E712
    assert any("reflectance far outside" in w.value for w in at.warning)


def test_a_changed_model_file_is_a_clear_error_not_a_traceback(models_dir, monkeypatch, tmp_path, demo_upload):
    changed = tmp_path / "models"
    shutil.copytree(models_dir, changed)
    version = Registry(changed).active_version("rf")
    model_file = changed / "rf" / version / "model.skops"
    model_file.write_bytes(model_file.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setenv("DON_MODELS_DIR", str(changed))
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    at = upload(
        AppTest.from_file(APP, default_timeout=TIMEOUT), "pages/rf.py", "rf_file", "x.csv", demo_upload.read_bytes()
    )
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("The active RandomForest model cannot be loaded" in e and "model.skops" in e for e in errors), errors
    assert_no_server_path(at)


def test_a_bug_while_reading_is_one_plain_line(app, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("don_predictor.ui.upload_cache.read_spectra", explode)
    at = upload(app, "pages/compare.py", "compare_file", "bug.csv", b"hsi_id,0\nunique-bytes-for-this-test,0.5\n")
    assert not at.exception
    assert any("could not be read because of an internal error (RuntimeError)" in e.value for e in at.error)
