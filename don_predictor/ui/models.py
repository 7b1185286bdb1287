"""Loading active models once per version (st.cache_resource), and reading and scoring uploads through caches
bounded by bytes."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import pandas as pd
import streamlit as st

from don_predictor.config import BACKENDS, settings
from don_predictor.logs import event
from don_predictor.modeling.backends import Backend
from don_predictor.services import metrics
from don_predictor.services.predict import add_verdicts, lots_of, score_table, screening_thresholds, training_overlap
from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.table import SpectraError, SpectraTable
from don_predictor.store.registry import ModelVersion, Registry, RegistryError
from don_predictor.trust.screening import Thresholds

LOAD_SECONDS: dict[str, float] = {}  # "backend/version" -> seconds its first load took, for the Status page


def registry() -> Registry:
    return Registry(settings().models_dir)


@st.cache_resource(show_spinner=False, max_entries=8)
def load_model(models_dir: str, backend: str, version: str) -> Backend:
    started = time.perf_counter()
    model = Registry(models_dir).load(backend, version)
    LOAD_SECONDS[f"{backend}/{version}"] = time.perf_counter() - started
    event("model_loaded", backend=backend, version=version, seconds=LOAD_SECONDS[f"{backend}/{version}"])
    return model


_SERVED: dict[str, str] = {}  # backend -> the version this process last served, to log a switch once


def active_versions(backends: tuple[str, ...] = BACKENDS) -> tuple[dict[str, ModelVersion], list[str]]:
    """The active version per backend, and a plain sentence for each backend that has none.

    Read from active.json on every page run, never cached for the process: when another replica (or the command
    line) activates a version in the shared registry, this process serves it from its next page run on.
    """
    found, problems = {}, []
    for backend in backends:
        try:
            version = registry().active(backend)
        except RegistryError as error:
            problems.append(str(error))
            continue
        if version is None:
            problems.append(f"No active {backend.upper()} model yet: train one on the Train page (or run make models).")
        else:
            found[backend] = version
    for backend, version in found.items():
        if _SERVED.get(backend, version.version) != version.version:
            event("active_version_changed", backend=backend, previous=_SERVED[backend], version=version.version)
        _SERVED[backend] = version.version
    metrics.observe_active(found)
    return found, problems


# Uploads are cached in this process, shared by every session, up to these many bytes of parsed tables and results:
# a 150 MB CSV of 42,000 spectra is a 150 MB table. Unlike st.cache_data, a hit hands back the cached object itself
# (no unpickled copy per page run) and an entry too big for its cache is simply not kept.
READ_CACHE_BYTES = 384 * 1024**2
SCORE_CACHE_BYTES = 128 * 1024**2
CACHE_ENTRIES = 16


class BoundedCache:
    """A thread-safe LRU cache bounded by the total size of its values and by their number."""

    def __init__(self, max_bytes: int, max_entries: int):
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any], size_of: Callable[[Any], int]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()  # outside the lock: other sessions' page runs do not wait for a big upload
        size = size_of(value)
        with self._lock:
            if size <= self.max_bytes and key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
                while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._bytes -= dropped
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


READ_CACHE = BoundedCache(READ_CACHE_BYTES, CACHE_ENTRIES)
SCORE_CACHE = BoundedCache(SCORE_CACHE_BYTES, CACHE_ENTRIES)


def table_bytes(table: SpectraTable | SpectraError) -> int:
    """About what a read upload holds in memory: its arrays, ids and problems."""
    if isinstance(table, SpectraError):
        return 1024
    arrays = table.X.nbytes + (table.target.nbytes if table.target is not None else 0)
    ids = sum(sys.getsizeof(i) for i in table.ids) + 8 * len(table.ids)
    return arrays + ids + 400 * len(table.problems) + 1024


def frame_bytes(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(index=True, deep=True).sum())


def read_upload(data: bytes, require_target: bool = False, sha256: str | None = None) -> SpectraTable:
    """The upload read and validated, once per content; raises SpectraError (remembered too) for an unusable file."""
    max_rows = settings().max_upload_rows
    key = (sha256 or hashlib.sha256(data).hexdigest(), require_target, max_rows)

    def read() -> SpectraTable | SpectraError:
        try:
            table = read_spectra(data, require_target=require_target, max_rows=max_rows)
        except SpectraError as error:
            return error
        for array in (table.X, table.target):  # shared by every session: a page that wrote into it would fail
            if array is not None:
                array.flags.writeable = False
        return table

    outcome = READ_CACHE.get(key, read, table_bytes)
    if isinstance(outcome, SpectraError):
        raise outcome
    return outcome


def score_upload(
    data: bytes,
    models_dir: str,
    versions: tuple[tuple[str, str], ...],
    limit_ppb: float,
    sha256: str | None = None,
) -> pd.DataFrame:
    """Results of the given (backend, version) models on an upload, verdicts at the settings' risk levels;
    raises BandMismatchError. The models' scores are cached without the limit: another limit only re-decides."""
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    models = {backend: load_model(models_dir, backend, version) for backend, version in versions}

    def score() -> pd.DataFrame:
        try:
            return score_table(read_upload(data, sha256=sha256), models)
        except Exception as error:
            metrics.SCORING_ERRORS.labels(type(error).__name__).inc()
            raise

    scores = SCORE_CACHE.get((sha256, models_dir, versions), score, frame_bytes)
    return add_verdicts(scores, models, limit_ppb, settings().risk)


def scores_kept(sha256: str, models_dir: str, versions: tuple[tuple[str, str], ...]) -> bool:
    """Whether score_upload would reuse this upload's scores by these model versions (no model runs)."""
    return (sha256, models_dir, versions) in SCORE_CACHE


def screening_of(
    data: bytes,
    models_dir: str,
    versions: tuple[tuple[str, str], ...],
    results: pd.DataFrame,
    limit_ppb: float,
    sha256: str | None = None,
) -> tuple[dict[str, Thresholds | None], pd.DataFrame | None]:
    """Each model's calibrated thresholds at this limit (None: an older model, interval rule) and the lot table
    (None when the upload has no lot column)."""
    risk = settings().risk
    thresholds = {
        backend: screening_thresholds(load_model(models_dir, backend, version), limit_ppb, risk)
        for backend, version in versions
    }
    lots = lots_of(results, read_upload(data, sha256=sha256), [backend for backend, _ in versions])
    return thresholds, lots


def in_sample_counts(
    data: bytes, models_dir: str, versions: tuple[tuple[str, str], ...], sha256: str | None = None
) -> dict[str, int | None]:
    """Per backend: how many uploaded spectra were its training rows (see predict.training_overlap)."""
    models = {backend: load_model(models_dir, backend, version) for backend, version in versions}
    return training_overlap(read_upload(data, sha256=sha256), models)
