"""Versioned model bundles on disk: save, load (checksum-verified), list; activating and rolling back are
store/governance.py's (its review decides, then it calls the underscore methods here).

Layout: <root>/<backend>/<version>/ holds the backend's files and manifest.json; <root>/active.json says which version
of each backend is active. A version is written into a hidden temporary directory and renamed into place in one step,
so a crash at any moment leaves either no new version or a complete one; the active file is replaced the same way.

Every change (save, activate, roll back; imports in store/backup.py) is checked against the actor's role and leaves
one audit row with who, what and why, here, whoever calls: the pages, the command line, a job, a test.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from filelock import FileLock

from don_predictor import __version__
from don_predictor.config import BACKENDS
from don_predictor.modeling.backends import Backend
from don_predictor.modeling.backends.base import PARAMS_FILE
from don_predictor.modeling.screened import ScreenedRegressor
from don_predictor.services.permissions import Actor, require

MANIFEST_FILE = "manifest.json"
ACTIVE_FILE = "active.json"
LOCK_FILE = ".active.lock"
PARTIAL_PREFIX = ".partial-"
MANIFEST_CHECKSUM_KEY = "manifest_sha256"
MAX_MANIFEST_BYTES = 4 * 1024**2  # a real manifest is a few hundred KB; a bigger one is not read at all
MAX_ACTIVE_BYTES = 1024**2
STALE_PARTIAL_SECONDS = 3600.0  # a save takes seconds; a partial folder older than this was left by a crash
LOCK_TIMEOUT_SECONDS = 30.0


class RegistryError(Exception):
    """A model version cannot be found, activated or trusted."""


class IntegrityError(RegistryError):
    """A file of a saved model is missing or differs from the checksum its manifest recorded."""


class CorruptManifestError(RegistryError):
    """A version's manifest.json cannot be read, is not a JSON object, or was changed after it was saved."""


@dataclass(frozen=True)
class ModelVersion:
    backend: str
    version: str
    path: Path
    manifest: dict[str, Any]

    @property
    def created(self) -> str:
        return self.manifest.get("created", "")

    @property
    def cv_metrics(self) -> dict[str, Any]:
        return self.manifest.get("cv_metrics") or {}

    def cv_mean(self, metric: str) -> float | None:
        """The cross-validated mean of one metric (`r2`, `r2_log`, `mae_ppb`, ...); None without CV."""
        value = ((self.cv_metrics.get("metrics") or {}).get(metric) or {}).get("mean")
        return None if value is None else float(value)

    def history(self) -> dict[str, list[float]]:
        """The loss curves the backend recorded while fitting (empty for RF)."""
        try:
            return json.loads((self.path / PARAMS_FILE).read_text()).get("history", {})
        except (OSError, ValueError):
            return {}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """The sha256 of the manifest's canonical JSON, without the checksum entry itself."""
    content = {key: value for key, value in manifest.items() if key != MANIFEST_CHECKSUM_KEY}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its own checksum, so an edited manifest is detected like an edited model file."""
    return {**manifest, MANIFEST_CHECKSUM_KEY: manifest_checksum(manifest)}


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest.json read with a size cap; CorruptManifestError names the file and the reason."""
    name = "/".join(path.parts[-3:])  # backend/version/manifest.json: no server path in messages
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise CorruptManifestError(f"{name} is {size:,} bytes, larger than any real manifest: not read")
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CorruptManifestError(f"{name} is missing") from None
    except (OSError, ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else "not valid JSON"
        raise CorruptManifestError(f"{name} is corrupt ({reason})") from None
    if not isinstance(manifest, dict):
        raise CorruptManifestError(f"{name} is corrupt (not a JSON object)")
    return manifest


def library_versions(backend: str) -> dict[str, str]:
    names = ["numpy", "pandas", "scikit-learn", "skops"] + (
        ["keras", "tensorflow-cpu", "tensorflow"] * (backend == "tf")
    )
    versions = {"python": platform.python_version(), "don-predictor": __version__}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


class Registry:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _lock(self) -> FileLock:
        """Serialises writers of active.json across threads and processes (a read-modify-write)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(self.root / LOCK_FILE, timeout=LOCK_TIMEOUT_SECONDS)

    def clean_partials(self, older_than_s: float = STALE_PARTIAL_SECONDS) -> list[str]:
        """Remove half-written version folders left by a crash; returns their names. Called at start."""
        removed, now = [], time.time()
        for backend_dir in (p for p in self.root.glob("*") if p.is_dir() and not p.name.startswith(".")):
            for partial in backend_dir.glob(f"{PARTIAL_PREFIX}*"):
                with contextlib.suppress(OSError):
                    if now - partial.stat().st_mtime > older_than_s:
                        shutil.rmtree(partial)
                        removed.append(f"{backend_dir.name}/{partial.name}")
        return removed

    # --- writing --------------------------------------------------------------------------------------------------

    def record(self, action: str, by: Actor | None, **detail: Any) -> None:
        """One audit row of a change of this registry (imported late: reading a registry needs no database)."""
        from don_predictor.store.audit import audit

        audit(action, user=by.name if by else None, role=by.role if by else None, **detail)

    def save(
        self, model: ScreenedRegressor | Backend, training: dict[str, Any], *, by: Actor | None = None, why: str = ""
    ) -> ModelVersion:
        """Write a fitted model (with its trust, or a bare backend) as a new immutable version, not activated.
        `training` goes into the manifest as it is."""
        require(by, "train")
        backend = model.estimator_ if isinstance(model, ScreenedRegressor) else model
        created = datetime.now(UTC)
        version = f"{created:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        backend_dir = self.root / model.name
        backend_dir.mkdir(parents=True, exist_ok=True)
        partial = backend_dir / f"{PARTIAL_PREFIX}{version}"
        try:
            model.save(partial)
            files = {p.name: sha256_file(p) for p in sorted(partial.iterdir()) if p.is_file()}
            manifest = {
                "version": version,
                "backend": model.name,
                "created": created.isoformat(),
                "band_names": model.band_names,
                "params": backend.get_params(),
                "target_transform": model.target_transform,
                **training,
                "library_versions": library_versions(model.name),
                "files": files,
            }
            _write_json(partial / MANIFEST_FILE, seal_manifest(manifest))
            _fsync_tree(partial)
            os.rename(partial, backend_dir / version)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        data = training.get("data_name")
        self.record("save", by, backend=model.name, version=version, data=data, reason=why or f"trained on {data}")
        return self.get(model.name, version)

    def _activate(
        self, backend: str, version: str, *, by: Actor | None = None, why: str = "", problems: str = ""
    ) -> None:
        """Make `version` the active one (governance's, after its review or its caller's choice to skip it).
        `problems`: why the review refused it, when `why` overrides that."""
        require(by, "activate")
        self.get(backend, version)  # refuses a version that does not exist
        with self._lock():
            state = self._active_state()
            entry = state.setdefault(backend, {"version": None, "history": []})
            previous = entry["version"]
            entry["version"] = version
            entry["history"] = [v for v in entry["history"] if v != version] + [version]
            self._write_active(state)
        action = "activation_override" if problems else "activate"
        self.record(action, by, backend=backend, version=version, previous=previous, problems=problems, reason=why)

    def previous_version(self, backend: str) -> str | None:
        """The version a rollback would re-activate (the one active before the current one), or None."""
        history = [
            v for v in self._active_state().get(backend, {}).get("history", []) if (self.root / backend / v).is_dir()
        ]
        return history[-2] if len(history) >= 2 else None

    def _rollback(self, backend: str, *, by: Actor | None = None, why: str = "") -> str:
        """(governance.rollback's) Re-activate the version that was active before the current one; returns it."""
        require(by, "rollback")
        with self._lock():
            state = self._active_state()
            history = [v for v in state.get(backend, {}).get("history", []) if (self.root / backend / v).is_dir()]
            if len(history) < 2:
                raise RegistryError(f"no earlier {backend} version to roll back to")
            current = history.pop()
            state[backend] = {"version": history[-1], "history": history}
            self._write_active(state)
        self.record("rollback", by, backend=backend, version=history[-1], previous=current, reason=why)
        return history[-1]

    # --- reading --------------------------------------------------------------------------------------------------

    def folders_stamp(self) -> tuple[str, ...]:
        """The names of every backend's version folders: changes when a version is saved or removed, read without
        opening a manifest (a page can ask every second)."""
        return tuple(
            f"{backend}/{path.name}"
            for backend in BACKENDS
            if (self.root / backend).is_dir()
            for path in sorted((self.root / backend).iterdir())
            if not path.name.startswith(".")
        )

    def versions(self, backend: str) -> list[ModelVersion]:
        """Complete versions, newest first. Half-written directories and unreadable manifests are skipped."""
        backend_dir = self.root / backend
        if not backend_dir.is_dir():
            return []
        found = []
        for path in backend_dir.iterdir():
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                manifest = read_manifest(path / MANIFEST_FILE)
            except CorruptManifestError:
                continue
            found.append(ModelVersion(backend, path.name, path, manifest))
        return sorted(found, key=lambda v: str(v.created), reverse=True)

    def get(self, backend: str, version: str) -> ModelVersion:
        path = self.root / backend / str(version)
        if not (_simple_name(backend) and _simple_name(str(version)) and path.is_dir()):
            raise RegistryError(f"no {backend} model version {version!r} in the models directory")
        return ModelVersion(backend, path.name, path, read_manifest(path / MANIFEST_FILE))

    def active_version(self, backend: str) -> str | None:
        return self._active_state().get(backend, {}).get("version")

    def active(self, backend: str) -> ModelVersion | None:
        version = self.active_version(backend)
        return self.get(backend, version) if version else None

    def verify(self, model_version: ModelVersion) -> None:
        """Raise IntegrityError naming the manifest or the first file that is missing or changed."""
        where = f"{model_version.backend}/{model_version.version}"
        manifest = model_version.manifest
        recorded = manifest.get(MANIFEST_CHECKSUM_KEY)
        if recorded is None:
            raise IntegrityError(f"{where}/{MANIFEST_FILE}: has no checksum of its own (saved by an older version)")
        if recorded != manifest_checksum(manifest):
            raise IntegrityError(f"{where}/{MANIFEST_FILE}: checksum does not match (the manifest was changed)")
        files = manifest.get("files")
        if not isinstance(files, dict) or not files:
            raise IntegrityError(f"{where}/{MANIFEST_FILE}: lists no model files")
        for name, expected in files.items():
            path = model_version.path / name
            if "/" in name or name.startswith(".") or not path.is_file():
                raise IntegrityError(f"{where}/{name}: file is missing from the model bundle")
            if sha256_file(path) != expected:
                raise IntegrityError(f"{where}/{name}: checksum does not match the manifest (the file was changed)")
        # A file the manifest does not list would be read unverified (a TF bundle uses network.npz when present).
        # Hidden files are the file system's or the desktop's (.DS_Store, ._x, .nfs...), never a model's.
        for path in sorted(model_version.path.iterdir()):
            if path.name not in files and path.name != MANIFEST_FILE and not path.name.startswith("."):
                raise IntegrityError(f"{where}/{path.name}: file is not listed in the manifest (it was added)")

    def load(self, backend: str, version: str | None = None, **settings: Any) -> ScreenedRegressor:
        """Load a version (default: the active one) after verifying every file's checksum: the fitted backend with
        its trust. `settings` change only how it scores (n_jobs=1 where a cluster already runs a task per core)."""
        version = version or self.active_version(backend)
        if version is None:
            raise RegistryError(
                f"no active {backend} model in the models directory: train one first (python -m don_predictor train)"
            )
        model_version = self.get(backend, version)
        self.verify(model_version)
        return ScreenedRegressor.load(model_version.path, **settings)

    # --- the active file ------------------------------------------------------------------------------------------

    def _active_state(self) -> dict[str, Any]:
        """active.json, checked: {backend: {"version": str | None, "history": [str, ...]}}."""
        path = self.root / ACTIVE_FILE
        try:
            if path.stat().st_size > MAX_ACTIVE_BYTES:
                raise RegistryError(f"{ACTIVE_FILE} in the models directory is too large to be real: fix or remove it")
            state = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError):
            raise RegistryError(f"{ACTIVE_FILE} in the models directory is not valid JSON: fix or remove it") from None
        if not isinstance(state, dict) or not all(_valid_entry(entry) for entry in state.values()):
            raise RegistryError(
                f"{ACTIVE_FILE} in the models directory is corrupt (expected "
                '{"rf": {"version": ..., "history": [...]}}): fix or remove it'
            )
        return state

    def _write_active(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{ACTIVE_FILE}.{uuid.uuid4().hex}"
        _write_json(temporary, state)
        os.replace(temporary, self.root / ACTIVE_FILE)


def _simple_name(name: str) -> bool:
    """A backend or version name that stays inside its folder (no separators, no hidden or parent names)."""
    return bool(name) and not name.startswith(".") and "/" not in name and "\\" not in name


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("version"), str | type(None))
        and isinstance(entry.get("history", []), list)
        and all(isinstance(v, str) for v in entry.get("history", []))
    )


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
