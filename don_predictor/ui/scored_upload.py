"""Score an upload on a page and keep the run: the step every prediction page shares (the spinner, the plain
errors for a file that does not fit or a model that cannot load, the history record, the time taken). The work is
the one pipeline (scoring.pipeline.screen); the score cache wraps its scoring step."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from don_predictor.lab.worklist import Worklist
from don_predictor.modeling.backends import backend_class
from don_predictor.plain_text import markdown_literal
from don_predictor.scoring.frame import results_frame
from don_predictor.scoring.run import Decisions, ScoredRun
from don_predictor.scoring.score import training_rows
from don_predictor.services.fair_use import Busy
from don_predictor.spectra.table import BandMismatchError, SpectraTable
from don_predictor.store.registry import ModelVersion, RegistryError
from don_predictor.tracing import span
from don_predictor.trust.limits import Limit
from don_predictor.trust.screening import Thresholds
from don_predictor.ui.fair_turn import scoring_turn
from don_predictor.ui.model_cache import load_model, registry
from don_predictor.ui.recording import screen_and_record
from don_predictor.ui.score_cache import scored_run, scores_kept
from don_predictor.ui.upload import Upload, target_of


@dataclass(frozen=True)
class ScoredUpload:
    run: ScoredRun
    decisions: Decisions
    results: pd.DataFrame  # the page's results frame (with the joint decision when there is one)
    versions: dict[str, str]  # backend -> version
    seconds: float
    worklist: Worklist | None = None  # the lab worklist the run's recording drew (None: not recorded)

    @property
    def thresholds(self) -> dict[str, Thresholds | None]:
        return self.decisions.thresholds


@contextlib.contextmanager
def traced_upload(page: str) -> Iterator[None]:
    """One trace per scored upload: the page's read, score, decide and record spans are its children."""
    with span("page.upload", page=page):
        yield


def score_and_record(
    upload: Upload,
    table: SpectraTable,
    versions: dict[str, ModelVersion],
    limit: Limit,
    source: str,
    demo: frozenset[str] = frozenset(),
) -> ScoredUpload | None:
    """The upload scored by the given active versions at `limit`, recorded once in the history; None (after saying
    why on the page) when it cannot be scored. `demo`: the backends whose model is a demo model (see decide)."""
    several = len(versions) > 1
    models_named = "the models" if several else f"the {backend_class(next(iter(versions))).label} model"
    by = "both models" if several else models_named
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
                    models = {backend: load_model(root, backend, version) for backend, version in versions_key}
                    run = scored_run(table, upload.sha256, root, versions_key, models)
            seconds = time.perf_counter() - started
    except Busy as error:  # the queue is full, the wait too long, or the user's budget spent for a while
        st.error(f"{error}. **{markdown_literal(upload.name)}** was not scored; drop it again then.")
        return None
    except BandMismatchError as error:
        st.error(
            f"**{markdown_literal(upload.name)}** does not fit {models_named}: {markdown_literal(error)}. None of its "
            f"{table.n_rows:,} rows was scored."
        )
        return None
    except RegistryError as error:  # a model file changed or missing on disk: named, without a server path
        st.error(f"The active {models_named.removeprefix('the ')} cannot be loaded: {error}")
        return None

    plain_versions = dict(versions_key)
    # The pipeline's decide and record spans follow score as this upload's steps.
    screened = screen_and_record(
        upload,
        table,
        models,
        run,
        limit,
        source,
        None if reused else seconds,
        demo=demo,
        in_training=lambda: training_rows(table, models),
        measured=target_of(table),
    )
    if reused:  # the time of a cache hit is not a scoring time
        st.caption(f"The scores by {by} from this upload's earlier run (same model versions), decided again.")
    else:
        st.caption(f"Scored by {by} in {1000 * seconds:,.0f} ms.")
    results = results_frame(screened.run, screened.decisions, joint=True)
    return ScoredUpload(screened.run, screened.decisions, results, plain_versions, seconds, screened.worklist)


def _versions_text(versions_key: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{backend}:{version}" for backend, version in versions_key)
