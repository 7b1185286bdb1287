"""The model registry: immutable versions, checksums, atomic writes, activate and roll back."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from don_predictor.backends import make_backend
from don_predictor.registry import IntegrityError, Registry, RegistryError


@pytest.fixture()
def small_model(demo_table):
    return make_backend("rf", n_estimators=5).fit(demo_table.X[:100], demo_table.target[:100], demo_table.band_names)


def test_save_writes_manifest_with_checksums_and_activates(tmp_path, small_model, demo_table):
    registry = Registry(tmp_path)
    version = registry.save(small_model, {"n_rows": 100, "data_sha256": "abc"})
    manifest = json.loads((version.path / "manifest.json").read_text())
    assert manifest["backend"] == "rf" and manifest["band_names"] == demo_table.band_names
    assert set(manifest["files"]) == {"backend.json", "model.skops"}
    assert manifest["n_rows"] == 100 and manifest["target_transform"] == "sqrt"
    assert {"python", "numpy", "scikit-learn"} <= set(manifest["library_versions"])
    assert registry.active_version("rf") == version.version
    loaded = registry.load("rf")
    np.testing.assert_array_equal(loaded.predict(demo_table.X[:5]), small_model.predict(demo_table.X[:5]))


def test_tampered_file_is_detected_and_named(tmp_path, small_model):
    registry = Registry(tmp_path)
    version = registry.save(small_model, {})
    with open(version.path / "model.skops", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(IntegrityError, match=r"model\.skops: checksum does not match"):
        registry.load("rf")


def test_missing_file_is_named(tmp_path, small_model):
    registry = Registry(tmp_path)
    version = registry.save(small_model, {})
    (version.path / "backend.json").unlink()
    with pytest.raises(IntegrityError, match=r"backend\.json: file is missing"):
        registry.load("rf")


def test_half_written_version_is_ignored_and_previous_still_loads(tmp_path, small_model, demo_table):
    registry = Registry(tmp_path)
    good = registry.save(small_model, {})
    # A kill in the middle of a save leaves a hidden partial directory (and no manifest) behind.
    partial = tmp_path / "rf" / ".partial-20990101-000000-dead00"
    partial.mkdir()
    shutil.copy(good.path / "model.skops", partial / "model.skops")
    # A directory without a manifest (copied by hand, interrupted) is not a version either.
    (tmp_path / "rf" / "20990101-000001-beef00").mkdir()
    assert [v.version for v in registry.versions("rf")] == [good.version]
    assert registry.active_version("rf") == good.version
    assert registry.load("rf").predict(demo_table.X[:2]).shape == (2,)


def test_a_failed_save_leaves_no_version_and_keeps_the_active_one(tmp_path, small_model, monkeypatch):
    registry = Registry(tmp_path)
    good = registry.save(small_model, {})

    def crash(directory):
        (directory / "model.skops").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(small_model, "_save", crash)
    with pytest.raises(OSError, match="disk full"):
        registry.save(small_model, {})
    assert [v.version for v in registry.versions("rf")] == [good.version]
    assert registry.active_version("rf") == good.version
    assert not any(p.name.startswith(".partial") for p in (tmp_path / "rf").iterdir())


def test_activate_and_roll_back(tmp_path, small_model):
    registry = Registry(tmp_path)
    first = registry.save(small_model, {})
    second = registry.save(small_model, {})
    third = registry.save(small_model, {}, activate=False)
    assert registry.active_version("rf") == second.version
    assert [v.version for v in registry.versions("rf")] == [third.version, second.version, first.version]
    registry.activate("rf", third.version)
    assert registry.rollback("rf") == second.version
    assert registry.rollback("rf") == first.version
    assert registry.active_version("rf") == first.version
    with pytest.raises(RegistryError, match="no earlier rf version"):
        registry.rollback("rf")


def test_activating_an_unknown_version_is_refused(tmp_path, small_model):
    registry = Registry(tmp_path)
    registry.save(small_model, {})
    with pytest.raises(RegistryError, match="no rf model version 'nope'"):
        registry.activate("rf", "nope")


def test_loading_without_any_model_says_what_to_do(tmp_path):
    with pytest.raises(RegistryError, match=r"no active tf model .*train one first"):
        Registry(tmp_path).load("tf")
