"""Model backups: one version as one zip (bundle + manifest), and a careful import of such a zip.

An imported zip may come from anywhere, so nothing in it is trusted: only the known file kinds are accepted (JSON,
skops, .keras, .npz; never a pickle), every file must match the checksum in its manifest, and the bundle must load
with skops' trusted-types list, Keras' safe mode and numpy without pickle before it becomes a version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from don_predictor.backends import backend_class
from don_predictor.config import BACKENDS
from don_predictor.registry import MANIFEST_FILE, PARTIAL_PREFIX, ModelVersion, Registry, RegistryError

ALLOWED_SUFFIXES = {".json", ".skops", ".keras", ".npz"}
PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".sav"}
MAX_UNPACKED_BYTES = 512 * 1024**2
VERSION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,63}")


class BackupError(RegistryError):
    """A backup zip is refused; the message says why."""


def export_version(registry: Registry, backend: str, version: str) -> bytes:
    """The version's files under `<backend>/<version>/` in a zip; checksums are verified first."""
    model_version = registry.get(backend, version)
    registry.verify(model_version)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(model_version.path.iterdir()):
            archive.write(path, f"{backend}/{version}/{path.name}")
    return buffer.getvalue()


def import_version(registry: Registry, data: bytes, *, activate: bool = False) -> ModelVersion:
    """Check a backup zip thoroughly and add it as a version (not activated unless asked)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BackupError("the file is not a zip archive") from None
    with archive:
        backend, version, members = _check_layout(archive)
        manifest = _read_manifest(archive, f"{backend}/{version}/{MANIFEST_FILE}")
        if manifest.get("backend") != backend or manifest.get("version") != version:
            raise BackupError("the manifest names another backend or version than the zip's folders")
        expected = manifest.get("files") or {}
        present = {name for name in members if name != MANIFEST_FILE}
        if present != set(expected):
            missing, extra = sorted(set(expected) - present), sorted(present - set(expected))
            raise BackupError(
                f"the files differ from the manifest: missing {missing or 'none'}, extra {extra or 'none'}"
            )
        target = registry.root / backend / version
        if target.exists():
            raise BackupError(f"{backend} version {version} is already in the registry")
        staging = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=_ensure(registry.root / backend)))
        try:
            for name in members:
                content = archive.read(f"{backend}/{version}/{name}")
                if name in expected and hashlib.sha256(content).hexdigest() != expected[name]:
                    raise BackupError(f"{name}: checksum does not match the manifest (the file was changed)")
                (staging / name).write_bytes(content)
            try:
                backend_class(backend).load(staging)  # skops trusted list, Keras safe mode, npz without pickle
            except Exception as error:
                raise BackupError(f"the model does not load safely: {type(error).__name__}: {error}") from None
            os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if activate:
        registry.activate(backend, version)
    return registry.get(backend, version)


def _check_layout(archive: zipfile.ZipFile) -> tuple[str, str, list[str]]:
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if not infos:
        raise BackupError("the zip is empty")
    if sum(info.file_size for info in infos) > MAX_UNPACKED_BYTES:
        raise BackupError("the zip unpacks to more than 512 MB")
    tops = set()
    members = []
    for info in infos:
        parts = info.filename.split("/")
        if info.filename.startswith("/") or ".." in parts or len(parts) != 3:
            raise BackupError(f"{info.filename}: unexpected path (a backup holds <backend>/<version>/<file>)")
        tops.add((parts[0], parts[1]))
        suffix = Path(parts[2]).suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            raise BackupError(f"{parts[2]}: pickle files are refused (they can run code when loaded)")
        if suffix not in ALLOWED_SUFFIXES:
            raise BackupError(f"{parts[2]}: files of type {suffix or '(none)'} are not part of a model bundle")
        members.append(parts[2])
    if len(tops) != 1:
        raise BackupError("the zip must hold exactly one model version")
    backend, version = tops.pop()
    if not VERSION_NAME.fullmatch(version):
        raise BackupError(f"{version!r} is not a version name")
    if backend not in BACKENDS:
        raise BackupError(f"unknown backend {backend!r}")
    if MANIFEST_FILE not in members:
        raise BackupError("the zip has no manifest.json")
    return backend, version, members


def _read_manifest(archive: zipfile.ZipFile, name: str) -> dict:
    try:
        return json.loads(archive.read(name))
    except ValueError as error:
        raise BackupError(f"manifest.json is not valid JSON: {error}") from None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
