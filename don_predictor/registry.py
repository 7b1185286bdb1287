"""Versioned model bundles on disk: save, load (checksum-verified), list, activate, roll back.

Layout: <root>/<backend>/<version>/ holds the backend's files and manifest.json; <root>/active.json says which version
of each backend is active. A version is written into a hidden temporary directory and renamed into place in one step,
so a crash at any moment leaves either no new version or a complete one; the active file is replaced the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from don_predictor import __version__
from don_predictor.backends import Backend, backend_class
from don_predictor.backends.base import PARAMS_FILE

MANIFEST_FILE = "manifest.json"
ACTIVE_FILE = "active.json"
PARTIAL_PREFIX = ".partial-"


class RegistryError(Exception):
    """A model version cannot be found, activated or trusted."""


class IntegrityError(RegistryError):
    """A file of a saved model is missing or differs from the checksum its manifest recorded."""


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

    # --- writing --------------------------------------------------------------------------------------------------

    def save(self, model: Backend, training: dict[str, Any], *, activate: bool = True) -> ModelVersion:
        """Write a fitted model as a new immutable version. `training` goes into the manifest as it is."""
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
                "params": model.params,
                "target_transform": model.target_transform,
                **training,
                "library_versions": library_versions(model.name),
                "files": files,
            }
            _write_json(partial / MANIFEST_FILE, manifest)
            _fsync_tree(partial)
            os.rename(partial, backend_dir / version)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        if activate:
            self.activate(model.name, version)
        return self.get(model.name, version)

    def activate(self, backend: str, version: str) -> None:
        self.get(backend, version)  # refuses a version that does not exist
        state = self._active_state()
        entry = state.setdefault(backend, {"version": None, "history": []})
        entry["version"] = version
        entry["history"] = [v for v in entry["history"] if v != version] + [version]
        self._write_active(state)

    def rollback(self, backend: str) -> str:
        """Re-activate the version that was active before the current one; returns it."""
        state = self._active_state()
        history = [v for v in state.get(backend, {}).get("history", []) if (self.root / backend / v).is_dir()]
        if len(history) < 2:
            raise RegistryError(f"no earlier {backend} version to roll back to")
        history.pop()
        state[backend] = {"version": history[-1], "history": history}
        self._write_active(state)
        return history[-1]

    # --- reading --------------------------------------------------------------------------------------------------

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
                manifest = json.loads((path / MANIFEST_FILE).read_text())
            except (OSError, ValueError):
                continue
            found.append(ModelVersion(backend, path.name, path, manifest))
        return sorted(found, key=lambda v: v.created, reverse=True)

    def get(self, backend: str, version: str) -> ModelVersion:
        for candidate in self.versions(backend):
            if candidate.version == version:
                return candidate
        raise RegistryError(f"no {backend} model version {version!r} in {self.root}")

    def active_version(self, backend: str) -> str | None:
        return self._active_state().get(backend, {}).get("version")

    def active(self, backend: str) -> ModelVersion | None:
        version = self.active_version(backend)
        return self.get(backend, version) if version else None

    def verify(self, model_version: ModelVersion) -> None:
        """Raise IntegrityError naming the first file that is missing or changed."""
        for name, expected in model_version.manifest.get("files", {}).items():
            path = model_version.path / name
            if not path.is_file():
                raise IntegrityError(f"{path}: file is missing from the model bundle")
            if sha256_file(path) != expected:
                raise IntegrityError(f"{path}: checksum does not match the manifest (the file was changed)")

    def load(self, backend: str, version: str | None = None) -> Backend:
        """Load a version (default: the active one) after verifying every file's checksum."""
        version = version or self.active_version(backend)
        if version is None:
            raise RegistryError(
                f"no active {backend} model in {self.root}: train one first (python -m don_predictor train)"
            )
        model_version = self.get(backend, version)
        self.verify(model_version)
        return backend_class(backend).load(model_version.path)

    # --- the active file ------------------------------------------------------------------------------------------

    def _active_state(self) -> dict[str, Any]:
        try:
            return json.loads((self.root / ACTIVE_FILE).read_text())
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise RegistryError(f"{self.root / ACTIVE_FILE} is not valid JSON: {error}") from None

    def _write_active(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{ACTIVE_FILE}.{uuid.uuid4().hex}"
        _write_json(temporary, state)
        os.replace(temporary, self.root / ACTIVE_FILE)


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
