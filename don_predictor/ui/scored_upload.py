"""Score an upload on a page and keep the run: the step every prediction page shares (the spinner, the plain
errors for a file that does not fit or a model that cannot load, the history record, the time taken)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from don_predictor.modeling.backends import backend_class
from don_predictor.plain_text import markdown_literal
from don_predictor.services.fair_use import Busy
from don_predictor.services.predict import id_column_name, training_rows
from don_predictor.spectra.table import BandMismatchError, SpectraTable
from don_predictor.store.registry import ModelVersion, RegistryError
from don_predictor.tracing import span
from don_predictor.trust.limits import Limit
from don_predictor.trust.screening import Thresholds
from don_predictor.ui.fair_turn import scoring_turn
from don_predictor.ui.models import load_model, registry, score_upload, scores_kept, screening_of
from don_predictor.ui.recording import record_scoring
from don_predictor.ui.upload import Upload


@dataclass(frozen=True)
class ScoredUpload:
    results: pd.DataFrame
    thresholds: dict[str, Thresholds | None]
    lots: pd.DataFrame | None  # None when the upload has no lot column
    versions: dict[str, str]  # backend -> version
    seconds: float


@contextlib.contextmanager
def traced_upload(page: str) -> Iterator[None]:
    """One trace per scored upload: the page's read, score, decide and record spans are its children."""
    with span("page.upload", page=page):
        yield


def score_and_record(
    upload: Upload, table: SpectraTable, versions: dict[str, ModelVersion], limit: Limit, source: str
) -> ScoredUpload | None:
    """The upload scored by the given active versions at `limit`, recorded once in the history; None (after saying
    why on the page) when it cannot be scored."""
    several = len(versions) > 1
    models = "the models" if several else f"the {backend_class(next(iter(versions))).label} model"
    by = "both models" if several else models
    versions_key = tuple((backend, version.version) for backend, version in versions.items())
    root = str(registry().root)
    reused = scores_kept(upload.sha256, root, versions_key)
    backends = ",".join(versions)
    turn = contextlib.nullcontext() if reused else scoring_turn(table.n_rows)  # kept scores cost no turn
    try:
        with turn:
            started = time.perf_counter()
            with st.spinner(f"Scoring {table.n_rows:,} spectra with {by}…", show_time=True):
                described = {"rows": table.n_rows, "backends": backends, "versions": _versions_text(versions_key)}
                with span("score", **described, reused=reused):
                    results = score_upload(upload.data, root, versions_key, limit.ppb, upload.sha256)
                with span("decide", backends=backends, limit=limit.key, limit_ppb=limit.ppb):
                    thresholds, lots = screening_of(upload.data, root, versions_key, results, limit.ppb, upload.sha256)
            seconds = time.perf_counter() - started
    except Busy as error:  # the queue is full, the wait too long, or the user's budget spent for a while
        st.error(f"{error}. **{markdown_literal(upload.name)}** was not scored; drop it again then.")
        return None
    except BandMismatchError as error:
        st.error(
            f"**{markdown_literal(upload.name)}** does not fit {models}: {markdown_literal(error)}. None of its "
            f"{table.n_rows:,} rows was scored."
        )
        return None
    except RegistryError as error:  # a model file changed or missing on disk: named, without a server path
        st.error(f"The active {models.removeprefix('the ')} cannot be loaded: {error}")
        return None

    def training_flags() -> dict:
        # The history marks each model's own training spectra, so Monitoring does not count them as drift.
        loaded = {backend: load_model(root, backend, version) for backend, version in versions_key}
        return {f"{b}_in_training": rows for b, rows in training_rows(table, loaded).items() if rows is not None}

    with span("record", rows=len(results), page=source):
        record_scoring(
            results,
            id_column_name(table),
            upload,
            dict(versions_key),
            limit,
            source,
            None if reused else seconds,
            row_flags=training_flags,
        )
    if reused:  # the time of a cache hit is not a scoring time
        st.caption(f"The scores by {by} from this upload's earlier run (same model versions), decided again.")
    else:
        st.caption(f"Scored by {by} in {1000 * seconds:,.0f} ms.")
    return ScoredUpload(results, thresholds, lots, dict(versions_key), seconds)


def _versions_text(versions_key: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{backend}:{version}" for backend, version in versions_key)
