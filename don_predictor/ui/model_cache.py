"""The model cache: active models loaded once per version (st.cache_resource), and which version is active."""

from __future__ import annotations

import time

import streamlit as st

from don_predictor.config import BACKENDS, settings
from don_predictor.logs import event
from don_predictor.modeling.backends import Backend
from don_predictor.services import metrics
from don_predictor.store.registry import ModelVersion, Registry, RegistryError

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
