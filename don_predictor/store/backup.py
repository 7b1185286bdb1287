"""Model backups: one version as one zip (bundle + manifest), and a careful import of such a zip.

An imported zip may come from anywhere, so nothing in it is trusted: only the known file kinds are accepted (JSON,
skops, .keras, .npz; never a pickle), every size is checked before a byte is unpacked and again while unpacking,
every file must match the checksum in its manifest, and the bundle must load with skops' trusted-types list, Keras'
safe mode and numpy without pickle before it becomes a version. Unpacking happens in a temporary directory outside
the registry; only a bundle that passed every check is copied in, under a hidden name renamed into place in one step.
Every refusal is a BackupError with a plain message that names the file and the reason, never a server path.

Here, not in the callers, each import, refused import, export and copy of the history database is checked against
the actor's role (services/permissions.py) and audited.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
import zipfile
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from don_predictor.config import BACKENDS
from don_predictor.modeling.backends import backend_class
from don_predictor.services.permissions import Actor, PermissionDenied, require
from don_predictor.store import governance
from don_predictor.store.registry import (
    MANIFEST_CHECKSUM_KEY,
    MANIFEST_FILE,
    PARTIAL_PREFIX,
    ModelVersion,
    Registry,
    RegistryError,
    manifest_checksum,
    seal_manifest,
)
from don_predictor.tracing import span

ALLOWED_SUFFIXES = {".json", ".skops", ".keras", ".npz"}
PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".sav"}
MAX_UNPACKED_BYTES = 512 * 1024**2
MAX_LOADED_BYTES = 512 * 1024**2  # what a .skops, .keras or .npz archive may unpack to when it is loaded
MAX_MANIFEST_BYTES = 1024**2  # a manifest with CV metrics and 448 band names is about 30 KB
MAX_FILE_BYTES = {  # per kind of file: far above what a trained model writes, far below what hurts the server
    ".json": 16 * 1024**2,
    ".npz": 64 * 1024**2,
    ".keras": 128 * 1024**2,
    ".skops": 256 * 1024**2,
}
ARCHIVE_KINDS = {".skops": "a skops file", ".keras": "a Keras archive", ".npz": "a numpy .npz archive"}
CHUNK_BYTES = 1 << 20
VERSION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:/[^\s'\":/]+)+/([^\s'\":/]+)")
# What reading a damaged, encrypted or oddly compressed member raises (RuntimeError: a password is needed).
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError)


class BackupError(RegistryError):
    """A backup zip is refused; the message says why."""


def export_version(registry: Registry, backend: str, version: str, *, by: Actor | None = None) -> bytes:
    """The version's files under `<backend>/<version>/` in a zip; checksums are verified first."""
    require(by, "export")
    model_version = registry.get(backend, version)
    registry.verify(model_version)
    registry.record("export", by, backend=backend, version=version)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(model_version.path.iterdir()):
            archive.write(path, f"{backend}/{version}/{path.name}")
    return buffer.getvalue()


def import_version(
    registry: Registry,
    data: bytes,
    *,
    activate: bool = False,
    by: Actor | None = None,
    file_name: str = "",
    why: str = "",
) -> ModelVersion:
    """Check a backup zip thoroughly and add it as a version (not activated unless asked); a refusal is audited with
    its reason, as the import is."""
    with span("backup.import", bytes=len(data), activate=activate) as current:
        try:
            require(by, "import")
            if activate:
                require(by, "activate")
            backend, version = _import(registry, data)
        except (RegistryError, PermissionDenied) as error:
            registry.record("import_refused", by, file=file_name, reason=str(error))
            raise
        current.set_attributes({"backend": backend, "version": version})
        registry.record(
            "import", by, file=file_name, backend=backend, version=version, reason=why or "restored a backup"
        )
        if activate:
            governance.activate_unreviewed(registry, backend, version, by=by, why=why or "activated on import")
        return registry.get(backend, version)


def database_copy(history_db, *, by: Actor | None = None) -> bytes:
    """A consistent copy of the history database (its audit trail, users and addresses too): admins only, audited."""
    from don_predictor.store.audit import audit
    from don_predictor.store.history import backup_bytes

    require(by, "database_copy")
    audit("database_copy", user=by.name if by else None, role=by.role if by else None)
    return backup_bytes(history_db)


def _import(registry: Registry, data: bytes) -> tuple[str, str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, ValueError, OSError):
        raise BackupError("the file is not a zip archive") from None
    with archive:
        backend, version, infos = _check_layout(archive)
        manifest = _read_manifest(archive, infos[MANIFEST_FILE])
        expected = _check_manifest(manifest, backend, version, set(infos) - {MANIFEST_FILE})
        sealed = MANIFEST_CHECKSUM_KEY in manifest
        if sealed and manifest[MANIFEST_CHECKSUM_KEY] != manifest_checksum(manifest):
            raise BackupError("manifest.json was changed after it was saved (its own checksum does not match)")
        target = registry.root / backend / version
        if target.exists():
            raise BackupError(f"{backend} version {version} is already in the registry")
        with tempfile.TemporaryDirectory(prefix="don-import-") as temporary:  # outside the registry
            staging = Path(temporary) / version
            staging.mkdir()
            for name, info in infos.items():
                digest = _unpack(archive, info, staging / name)
                if name in expected and digest != expected[name]:
                    raise BackupError(f"{name}: checksum does not match the manifest (the file was changed)")
            for name in infos:
                _check_kind(staging / name)
            try:
                model = backend_class(backend).load(staging)  # skops trusted list, Keras safe mode, npz without pickle
            except Exception as error:
                raise BackupError(f"the model does not load safely: {_plain(error, staging)}") from None
            if list(model.band_names) != list(manifest["band_names"]):
                raise BackupError("the manifest's band_names differ from the model's own band names")
            if not sealed:  # a backup from before manifests carried their own checksum: checked above, sealed now
                (staging / MANIFEST_FILE).write_text(json.dumps(seal_manifest(manifest), indent=1))
            _install(staging, registry.root / backend, version)
    return backend, version


def _check_layout(archive: zipfile.ZipFile) -> tuple[str, str, dict[str, zipfile.ZipInfo]]:
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if not infos:
        raise BackupError("the zip is empty")
    if sum(info.file_size for info in infos) > MAX_UNPACKED_BYTES:
        raise BackupError(f"the zip unpacks to more than {MAX_UNPACKED_BYTES // 1024**2} MB")
    tops = set()
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        parts = info.filename.split("/")
        if info.filename.startswith("/") or ".." in parts or len(parts) != 3 or "\\" in info.filename:
            raise BackupError(f"{info.filename}: unexpected path (a backup holds <backend>/<version>/<file>)")
        tops.add((parts[0], parts[1]))
        name = parts[2]
        suffix = Path(name).suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            raise BackupError(f"{name}: pickle files are refused (they can run code when loaded)")
        if suffix not in ALLOWED_SUFFIXES:
            raise BackupError(f"{name}: files of type {suffix or '(none)'} are not part of a model bundle")
        if not VERSION_NAME.fullmatch(name):
            raise BackupError(f"{name!r} is not the name of a model file")
        if name in members:
            raise BackupError(f"{name}: the zip holds this file twice")
        limit = MAX_MANIFEST_BYTES if name == MANIFEST_FILE else MAX_FILE_BYTES[suffix]
        if info.file_size > limit:
            raise BackupError(f"{name} unpacks to {_size(info.file_size)}; a model's {name} is at most {_size(limit)}")
        members[name] = info
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


def _read_manifest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, Any]:
    content = io.BytesIO()
    _copy_capped(archive, info, content)
    try:
        manifest = json.loads(content.getvalue())
    except RecursionError:
        raise BackupError("manifest.json is not a manifest: its JSON is nested too deeply") from None
    except ValueError as error:
        raise BackupError(f"manifest.json is not valid JSON: {_first_line(str(error))}") from None
    if not isinstance(manifest, dict):
        raise BackupError(f"manifest.json is not a manifest: it holds a JSON {_json_type(manifest)}, not an object")
    return manifest


def _check_manifest(manifest: dict[str, Any], backend: str, version: str, present: set[str]) -> dict[str, str]:
    """The manifest's checksums, after checking every field the registry and the pages read from it."""
    if manifest.get("backend") != backend or manifest.get("version") != version:
        raise BackupError("the manifest names another backend or version than the zip's folders")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(name, str) and isinstance(digest, str) and SHA256.fullmatch(digest) for name, digest in files.items()
    ):
        raise BackupError("manifest.json: 'files' must map each file name to its SHA-256 checksum")
    if present != set(files):
        missing, extra = sorted(set(files) - present), sorted(present - set(files))
        raise BackupError(f"the files differ from the manifest: missing {missing or 'none'}, extra {extra or 'none'}")
    created = manifest.get("created")
    try:
        datetime.fromisoformat(created)
    except (TypeError, ValueError):
        raise BackupError("manifest.json: 'created' must be a date and time (ISO 8601)") from None
    bands = manifest.get("band_names")
    if not isinstance(bands, list) or not bands or not all(isinstance(b, str) for b in bands):
        raise BackupError("manifest.json: 'band_names' must be a list of band names")
    for key, kind in (("cv_metrics", dict), ("intervals", dict), ("params", dict), ("n_rows", int)):
        if manifest.get(key) is not None and not isinstance(manifest[key], kind):
            raise BackupError(f"manifest.json: {key!r} must be a JSON {_json_type(kind())}")
    for key in ("data_name", "target_transform"):
        if manifest.get(key) is not None and not isinstance(manifest[key], str):
            raise BackupError(f"manifest.json: {key!r} must be text")
    return files


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> str:
    """Stream one member to path, never past its declared size; returns its SHA-256."""
    try:
        with open(path, "wb") as out:
            return _copy_capped(archive, info, out)
    except OSError as error:
        raise BackupError(f"the backup could not be unpacked: {error.strerror or type(error).__name__}") from None


def _copy_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out) -> str:
    name = info.filename.rsplit("/", 1)[-1]
    digest = hashlib.sha256()
    written = 0
    try:
        with archive.open(info) as source:
            while chunk := source.read(CHUNK_BYTES):
                written += len(chunk)
                if written > info.file_size:
                    raise BackupError(f"{name} unpacks to more than the {_size(info.file_size)} its zip entry declares")
                digest.update(chunk)
                out.write(chunk)
    except (BackupError, OSError):
        raise
    except ZIP_ERRORS as error:  # a bad CRC, a truncated stream, encryption, an unknown compression method
        raise BackupError(f"the zip is damaged or unreadable: {name}: {_first_line(str(error))}") from None
    return digest.hexdigest()


def _check_kind(path: Path) -> None:
    """A .skops, .keras or .npz file is itself a zip archive; refuse anything else with the real reason, and an
    archive whose own members would unpack to more than MAX_LOADED_BYTES."""
    suffix = path.suffix.lower()
    if suffix not in ARCHIVE_KINDS:
        return
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not zipfile.is_zipfile(path):
        raise BackupError(f"{path.name} is not {ARCHIVE_KINDS[suffix]}: {_what_it_is(head)}")
    try:
        with zipfile.ZipFile(path) as inner:
            unpacked = sum(info.file_size for info in inner.infolist())
    except (*ZIP_ERRORS, OSError):
        raise BackupError(f"{path.name} is not {ARCHIVE_KINDS[suffix]}: it is a damaged zip archive") from None
    if unpacked > MAX_LOADED_BYTES:
        raise BackupError(f"{path.name} would unpack to {_size(unpacked)} when loaded")


def _what_it_is(head: bytes) -> str:
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "it is a Python pickle, which can run code when loaded and is never accepted"
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 (.h5) file, the legacy Keras format, which this app does not load"
    if not head:
        return "it is empty"
    return "it is not a zip archive"


def _install(staging: Path, backend_dir: Path, version: str) -> None:
    """Copy the checked bundle into the registry under a hidden name, then rename it into place in one step.

    The directory and files get the same modes as a trained version's (the process umask), not mkdtemp's 0700.
    """
    backend_dir.mkdir(parents=True, exist_ok=True)
    partial = backend_dir / f"{PARTIAL_PREFIX}{version}-{uuid.uuid4().hex[:6]}"
    partial.mkdir()
    try:
        for path in sorted(staging.iterdir()):
            shutil.copyfile(path, partial / path.name)
            with open(partial / path.name, "rb") as handle:
                os.fsync(handle.fileno())
        os.rename(partial, backend_dir / version)
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY):  # another import of the same version won the race
            raise BackupError(f"{backend_dir.name} version {version} is already in the registry") from None
        reason = error.strerror or type(error).__name__
        raise BackupError(f"the version could not be added to the registry: {reason}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _plain(error: BaseException, staging: Path) -> str:
    """'Type: message' on one line, with the staging directory and any other absolute path cut to a file name."""
    message = _first_line(str(error)).replace(f"{staging}{os.sep}", "").replace(str(staging), "the backup")
    message = ABSOLUTE_PATH.sub(r"\1", message)
    return f"{type(error).__name__}: {message}"


def _first_line(message: str) -> str:
    lines = message.strip().splitlines()
    return lines[0][:300] if lines else "no reason given"


def _json_type(value: object) -> str:
    return {dict: "object", list: "list", str: "string", int: "number", float: "number", bool: "true/false"}.get(
        type(value), "null"
    )


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1024**2:,.1f} MB" if n_bytes >= 1024**2 else f"{n_bytes:,} bytes"
