"""The model registry: immutable versions, checksums, atomic writes, activate and roll back."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from don_predictor.modeling.backends import make_backend
from don_predictor.store import governance
from don_predictor.store.registry import IntegrityError, Registry, RegistryError


@pytest.fixture()
def small_model(demo_table):
    return make_backend("rf", n_estimators=5).fit(demo_table.X[:100], demo_table.target[:100], demo_table.band_names)


def test_save_writes_manifest_with_checksums_and_activates(tmp_path, small_model, demo_table):
    registry = Registry(tmp_path)
    version = governance.register(registry, small_model, {"n_rows": 100, "data_sha256": "abc"}, activate=True)
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
    version = governance.register(registry, small_model, {}, activate=True)
    with open(version.path / "model.skops", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(IntegrityError, match=r"model\.skops: checksum does not match"):
        registry.load("rf")


def test_missing_file_is_named(tmp_path, small_model):
    registry = Registry(tmp_path)
    version = governance.register(registry, small_model, {}, activate=True)
    (version.path / "backend.json").unlink()
    with pytest.raises(IntegrityError, match=r"backend\.json: file is missing"):
        registry.load("rf")


def test_a_file_added_to_a_bundle_is_refused(tmp_path, small_model):
    """A TF bundle scores with network.npz when it has one: a file slipped into a bundle must not be read unchecked."""
    registry = Registry(tmp_path)
    version = governance.register(registry, small_model, {}, activate=True)
    np.savez(version.path / "network.npz", mean=np.zeros(3))
    with pytest.raises(IntegrityError, match=r"network\.npz: file is not listed in the manifest"):
        registry.load("rf")


def test_hidden_files_a_desktop_or_file_server_leaves_do_not_stop_a_bundle(tmp_path, small_model, demo_table):
    registry = Registry(tmp_path)
    version = governance.register(registry, small_model, {}, activate=True)
    for name in (".DS_Store", "._model.skops", ".nfs000123"):
        (version.path / name).write_bytes(b"\0\1")
    loaded = registry.load("rf")
    np.testing.assert_array_equal(loaded.predict(demo_table.X[:3]), small_model.predict(demo_table.X[:3]))


def test_half_written_version_is_ignored_and_previous_still_loads(tmp_path, small_model, demo_table):
    registry = Registry(tmp_path)
    good = governance.register(registry, small_model, {}, activate=True)
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
    good = governance.register(registry, small_model, {}, activate=True)

    def crash(directory):
        (directory / "model.skops").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(small_model, "_save", crash)
    with pytest.raises(OSError, match="disk full"):
        governance.register(registry, small_model, {}, activate=True)
    assert [v.version for v in registry.versions("rf")] == [good.version]
    assert registry.active_version("rf") == good.version
    assert not any(p.name.startswith(".partial") for p in (tmp_path / "rf").iterdir())


def test_activate_and_roll_back(tmp_path, small_model):
    registry = Registry(tmp_path)
    first = governance.register(registry, small_model, {}, activate=True)
    second = governance.register(registry, small_model, {}, activate=True)
    third = registry.save(small_model, {})  # saved, not activated
    assert registry.active_version("rf") == second.version
    assert [v.version for v in registry.versions("rf")] == [third.version, second.version, first.version]
    governance.activate_unreviewed(registry, "rf", third.version)
    assert registry.previous_version("rf") == second.version  # what the Train page's button names
    assert governance.rollback(registry, "rf", by=None) == second.version
    assert governance.rollback(registry, "rf", by=None) == first.version
    assert registry.active_version("rf") == first.version and registry.previous_version("rf") is None
    with pytest.raises(RegistryError, match="no earlier rf version"):
        governance.rollback(registry, "rf", by=None)


def test_activating_an_unknown_version_is_refused(tmp_path, small_model):
    registry = Registry(tmp_path)
    governance.register(registry, small_model, {}, activate=True)
    with pytest.raises(RegistryError, match="no rf model version 'nope'"):
        governance.activate_unreviewed(registry, "rf", "nope")


def test_loading_without_any_model_says_what_to_do(tmp_path):
    with pytest.raises(RegistryError, match=r"no active tf model .*train one first"):
        Registry(tmp_path).load("tf")


# --- issue 9: writers serialised, stale partials cleaned, the manifest checksummed, corrupt files named ---------------


def fake_versions(root, backend: str, count: int) -> list[str]:
    """Version folders with a minimal manifest: enough for activate(), which only checks that a version exists."""
    names = [f"20260101-000000-{backend}{i:04d}" for i in range(count)]
    for name in names:
        (root / backend / name).mkdir(parents=True)
        (root / backend / name / "manifest.json").write_text(json.dumps({"created": name}))
    return names


def assert_no_lost_update(registry: Registry, expected: dict[str, list[str]]) -> None:
    state = json.loads((registry.root / "active.json").read_text())
    for backend, names in expected.items():
        assert state[backend]["version"] == names[-1]
        lost = sorted(set(names) - set(state[backend]["history"]))
        assert not lost, f"{len(lost)} of {len(names)} {backend} activations were lost"


def test_concurrent_activations_from_threads_lose_no_update(tmp_path):
    import threading

    registry = Registry(tmp_path)
    expected = {backend: fake_versions(tmp_path, backend, 200) for backend in ("rf", "tf")}
    start = threading.Barrier(2)

    def activate_all(backend: str) -> None:
        start.wait()
        for name in expected[backend]:
            governance.activate_unreviewed(Registry(tmp_path), backend, name)

    threads = [threading.Thread(target=activate_all, args=(backend,)) for backend in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_no_lost_update(registry, expected)


def test_concurrent_activations_from_two_processes_lose_no_update(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    expected = {backend: fake_versions(tmp_path, backend, 200) for backend in ("rf", "tf")}
    script = (
        "import sys\nfrom don_predictor.store import governance\nfrom don_predictor.store.registry import Registry\n"
        "root, backend, names = sys.argv[1], sys.argv[2], sys.argv[3].split(',')\n"
        "for name in names:\n    governance.activate_unreviewed(Registry(root), backend, name)\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), backend, ",".join(names)], cwd=ROOT)
        for backend, names in expected.items()
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    assert_no_lost_update(Registry(tmp_path), expected)


def test_stale_partial_folders_are_cleaned_and_fresh_ones_kept(tmp_path, small_model):
    import os
    import time

    registry = Registry(tmp_path)
    good = governance.register(registry, small_model, {}, activate=True)
    stale, fresh = tmp_path / "rf" / ".partial-old", tmp_path / "rf" / ".partial-new"
    for partial in (stale, fresh):
        partial.mkdir()
        (partial / "model.skops").write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert registry.clean_partials() == ["rf/.partial-old"]
    assert not stale.exists() and fresh.exists() and good.path.exists()


def test_a_changed_manifest_is_detected_like_a_changed_file(tmp_path, small_model):
    registry = Registry(tmp_path)
    version = governance.register(registry, small_model, {"n_rows": 100}, activate=True)
    manifest = json.loads((version.path / "manifest.json").read_text())
    manifest["n_rows"] = 1_000_000  # e.g. a hand edit that makes a model look better trained than it is
    (version.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=r"manifest\.json: checksum does not match"):
        registry.load("rf")
    del manifest["manifest_sha256"]
    (version.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=r"manifest\.json: has no checksum"):
        registry.load("rf")


@pytest.mark.parametrize(
    "content,message",
    [
        (b"[]", "active.json in the models directory is corrupt"),
        (b'{"rf": "x"}', "active.json in the models directory is corrupt"),
        (b'{"rf": {"version": 3}}', "active.json in the models directory is corrupt"),
        (b"{not json", "active.json in the models directory is not valid JSON"),
        (b"[" * 200_000, "active.json in the models directory is not valid JSON"),
    ],
)
def test_a_corrupt_active_file_is_named_without_a_server_path(tmp_path, small_model, content, message):
    registry = Registry(tmp_path)
    governance.register(registry, small_model, {}, activate=True)
    (tmp_path / "active.json").write_bytes(content)
    with pytest.raises(RegistryError, match=message) as raised:
        registry.active_version("rf")
    assert str(tmp_path) not in str(raised.value)


@pytest.mark.parametrize(
    "content,reason",
    [(b"{broken", "not valid JSON"), (b"[1, 2]", "not a JSON object"), (b"[" * 200_000, "nested too deeply")],
)
def test_a_corrupt_manifest_is_named_as_such(tmp_path, small_model, content, reason):
    registry = Registry(tmp_path)
    version = governance.register(registry, small_model, {}, activate=True)
    (version.path / "manifest.json").write_bytes(content)
    with pytest.raises(RegistryError, match=rf"rf/{version.version}/manifest\.json is corrupt \({reason}\)") as raised:
        registry.load("rf")
    assert str(tmp_path) not in str(raised.value)
    assert registry.versions("rf") == []  # listed versions skip it rather than fail the whole list


def test_an_oversized_manifest_is_not_read(tmp_path, small_model, monkeypatch):
    registry = Registry(tmp_path)
    version = governance.register(registry, small_model, {}, activate=True)
    monkeypatch.setattr("don_predictor.store.registry.MAX_MANIFEST_BYTES", 1000)
    with pytest.raises(RegistryError, match="larger than any real manifest"):
        registry.get("rf", version.version)


def test_a_version_gives_its_cross_validated_means(trained_registry):
    version = trained_registry.active("rf")
    metrics = version.manifest["cv_metrics"]["metrics"]
    assert version.cv_mean("r2") == metrics["r2"]["mean"] and version.cv_mean("mae_ppb") == metrics["mae_ppb"]["mean"]
    assert version.cv_mean("no_such_metric") is None
    bare = type(version)(version.backend, version.version, version.path, {"cv_metrics": None})
    assert bare.cv_mean("r2") is None


def test_the_registry_has_no_public_way_to_activate(tmp_path, small_model):
    """Activating and rolling back are store/governance.py's: its review, or its caller's choice to skip it."""
    assert not hasattr(Registry, "activate") and not hasattr(Registry, "rollback")
    with pytest.raises(TypeError):
        Registry(tmp_path).save(small_model, {}, activate=True)
    assert Registry(tmp_path).active_version("rf") is None
