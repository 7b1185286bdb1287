"""Loading active models once per version (st.cache_resource) and scoring uploads (st.cache_data)."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from don_predictor.backends import Backend
from don_predictor.config import BACKENDS, settings
from don_predictor.logs import event
from don_predictor.predict import predict_table
from don_predictor.registry import ModelVersion, Registry, RegistryError
from don_predictor.spectra import SpectraTable, read_spectra

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


def active_versions(backends: tuple[str, ...] = BACKENDS) -> tuple[dict[str, ModelVersion], list[str]]:
    """The active version per backend, and a plain sentence for each backend that has none."""
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
    return found, problems


@st.cache_data(show_spinner=False, max_entries=32)
def read_upload(data: bytes, require_target: bool = False) -> SpectraTable:
    return read_spectra(data, require_target=require_target, max_rows=settings().max_upload_rows)


@st.cache_data(show_spinner=False, max_entries=32)
def score_upload(data: bytes, models_dir: str, versions: tuple[tuple[str, str], ...], limit_ppb: float) -> pd.DataFrame:
    """Results of the given (backend, version) models on an upload; raises BandMismatchError."""
    table = read_upload(data)
    models = {backend: load_model(models_dir, backend, version) for backend, version in versions}
    return predict_table(table, models, limit_ppb)
