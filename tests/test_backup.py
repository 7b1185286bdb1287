"""Model backups: export -> import gives identical predictions; tampered zips and pickles are refused."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ROOT

from don_predictor.store import governance
from don_predictor.store.backup import BackupError, export_version, import_version
from don_predictor.store.registry import Registry, seal_manifest


def rewrite(data: bytes, change) -> bytes:
    """A copy of a backup zip with change(files: dict[name, bytes]) applied."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    change(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


class Marker:
    """Unpickling this creates a file: proof that a pickle ran."""

    path = ""

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("backend", ["rf", "tf"])
def test_export_import_round_trip_gives_identical_predictions(trained_registry, demo_table, tmp_path, backend):
    version = trained_registry.active_version(backend)
    data = export_version(trained_registry, backend, version)
    target = Registry(tmp_path)
    imported = import_version(target, data)
    assert imported.version == version and target.active_version(backend) is None
    governance.activate_unreviewed(target, backend, version)
    X = demo_table.X[:30]
    np.testing.assert_array_equal(target.load(backend).predict(X), trained_registry.load(backend).predict(X))
    with pytest.raises(BackupError, match="already in the registry"):
        import_version(target, data)


def test_tampered_zip_is_refused(trained_registry, tmp_path):
    version = trained_registry.active_version("rf")
    data = export_version(trained_registry, "rf", version)

    def tamper(files):
        name = f"rf/{version}/trust.npz"
        files[name] = files[name][:-10] + b"0123456789"

    with pytest.raises(BackupError, match=r"trust\.npz: checksum does not match"):
        import_version(Registry(tmp_path), rewrite(data, tamper))
    assert Registry(tmp_path).versions("rf") == []


def test_zip_carrying_a_pickle_is_refused_and_never_unpickled(trained_registry, tmp_path):
    version = trained_registry.active_version("rf")
    data = export_version(trained_registry, "rf", version)
    marker = tmp_path / "pwned"
    Marker.path = str(marker)
    payload = pickle.dumps(Marker())

    def add_pickle(files):
        files[f"rf/{version}/model.pkl"] = payload

    with pytest.raises(BackupError, match=r"model\.pkl: pickle files are refused"):
        import_version(Registry(tmp_path / "a"), rewrite(data, add_pickle))

    def pickle_as_skops(files):  # a pickle renamed, with a manifest that vouches for it
        files[f"rf/{version}/model.skops"] = payload
        manifest = json.loads(files[f"rf/{version}/manifest.json"])
        manifest["files"]["model.skops"] = hashlib.sha256(payload).hexdigest()
        files[f"rf/{version}/manifest.json"] = json.dumps(seal_manifest(manifest)).encode()  # a seal is no signature

    with pytest.raises(BackupError, match=r"model\.skops is not a skops file: it is a Python pickle"):
        import_version(Registry(tmp_path / "b"), rewrite(data, pickle_as_skops))
    assert not marker.exists()
    assert Registry(tmp_path / "b").versions("rf") == []


@pytest.mark.parametrize(
    "name,message",
    [
        ("../evil.json", "unexpected path"),
        ("rf/v1/sub/x.json", "unexpected path"),
        ("rf/.hidden/a.json", "not a version"),
    ],
)
def test_strange_paths_are_refused(tmp_path, name, message):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, b"{}")
    with pytest.raises(BackupError, match=message):
        import_version(Registry(tmp_path), out.getvalue())


def test_not_a_zip_is_refused(tmp_path):
    with pytest.raises(BackupError, match="not a zip archive"):
        import_version(Registry(tmp_path), b"hello")


def test_cli_export_and_import(trained_registry, tmp_path):
    zip_path = tmp_path / "rf.zip"
    run = [sys.executable, "-m", "don_predictor"]
    result = subprocess.run(
        [*run, "export", "--backend", "rf", "--models-dir", trained_registry.root, "--out", zip_path],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [*run, "import", "--file", zip_path, "--models-dir", tmp_path / "m", "--activate"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0 and "imported (active)" in result.stdout
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"nope")
    result = subprocess.run(
        [*run, "import", "--file", bad, "--models-dir", tmp_path / "m"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 2 and result.stderr.strip() == "error: the file is not a zip archive"


def test_a_zip_that_unpacks_to_more_than_the_total_limit_is_refused_before_unpacking(tmp_path, monkeypatch):
    import don_predictor.store.backup as backup

    monkeypatch.setattr(backup, "MAX_UNPACKED_BYTES", 1024**2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("rf/v1/model.skops", "rf/v1/trust.npz", "rf/v1/manifest.json"):
            archive.writestr(name, b"\0" * 400_000)  # each within its own limit, 1.2 MB together
    with pytest.raises(BackupError, match="unpacks to more than 1 MB"):
        import_version(Registry(tmp_path), out.getvalue())
    assert not any(tmp_path.rglob("*.skops"))
