"""The frame around every page: the sidebar with the active model versions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from don_predictor import __version__
from don_predictor.config import Settings, settings
from don_predictor.logs import setup_logging
from don_predictor.modeling.quality import short_headline
from don_predictor.services.history_gauges import serve_metrics
from don_predictor.store.audit import audit
from don_predictor.store.governance import DEMO_MODEL_NOTE, is_demo
from don_predictor.store.history import apply_retention
from don_predictor.store.registry import Registry
from don_predictor.tracing import setup_tracing
from don_predictor.trust.limits import LIMITS, Limit, get_limit
from don_predictor.ui.keras_state import keep_keras_state_across_runs
from don_predictor.ui.model_cache import active_versions

LIMIT_KEY = "limit_key"


@st.cache_resource(show_spinner=False)
def start_up() -> Settings:
    """Once per process: read and check the settings, set up logging, apply the history retention."""
    config = settings()
    keep_keras_state_across_runs()  # else every rerun clears TensorFlow's kernel cache under a training job
    setup_logging(config.log_level)
    setup_tracing()  # already done by the server's start-up (ui/server.py); here for `streamlit run app.py`
    serve_metrics(config)
    deleted = apply_retention(config.history_db, config.history_retention_days)
    cleaned = Registry(config.models_dir).clean_partials()
    login = "users file" if config.users_file else "shared password" if config.password_hash else "none or secrets.toml"
    audit(
        "start",
        models_dir=config.models_dir,
        history_db=config.history_db,
        retention_days=config.history_retention_days,
        retention_deleted=deleted,
        partial_versions_removed=len(cleaned),
        default_limit=config.default_limit,
        max_upload_rows=config.max_upload_rows,
        login=login,
    )
    return config


def current_limit() -> Limit:
    """The limit chosen in the sidebar (default: DON_DEFAULT_LIMIT, else the FDA advisory 1 ppm)."""
    return get_limit(st.session_state.get(LIMIT_KEY, settings().default_limit))


def sidebar() -> None:
    with st.sidebar:
        keys = [limit.key for limit in LIMITS]
        st.selectbox(
            "Screen against",
            keys,
            index=keys.index(st.session_state.get(LIMIT_KEY, settings().default_limit)),
            format_func=lambda key: get_limit(key).label,
            key=LIMIT_KEY,
            help="Verdicts come from the screening engine: below or above at the set risk levels (by default it clears"
            " at most 5 % of truly-above samples), else send_to_lab.",
        )
        st.markdown("### Active models")
        versions, problems = active_versions()
        limit_ppb = current_limit().ppb
        for backend, version in versions.items():
            # What it decides at the limit, not R² in ppb: a handful of extreme samples decide R² on this data.
            quality = short_headline(version.cv_metrics, limit_ppb)
            st.caption(f"**{backend.upper()}** `{version.version}`" + (f" · {quality}" if quality else ""))
            if is_demo(version):
                st.caption(f":orange[{DEMO_MODEL_NOTE}]")
        for problem in problems:
            st.caption(f":orange[{problem}]")
        st.caption(f"DON Predictor {__version__} · a screening tool, not a reference method")


# --- the router workaround -------------------------------------------------------------------------------------------
# Written for Streamlit 1.67 (tests/test_e2e.py opens deep links on a fresh server and fails if this stops working).
# With a folder named pages/ beside app.py, Streamlit starts every process in its old multipage mode and runs a
# deep-linked page script directly, without app.py: no login, no sidebar. The flag behind that mode is internal
# (PagesManager.uses_pages_directory) and no public option turns it off. So app.py marks, per script run, that a page
# runs inside its frame; a page run without the mark switches the process to st.navigation mode and reruns, which
# sends the visit through app.py (login first). The mark is per run (thread-local), never per process: a
# process-wide "already switched" flag let concurrent first visits render without the login.

ROUTER_WRITTEN_FOR_STREAMLIT = "1.67"  # tests/test_e2e.py fails on another version until the deep links are re-checked
_frame = threading.local()


@contextmanager
def inside_frame() -> Iterator[None]:
    """app.py runs the chosen page inside this: the page then knows the login and the sidebar ran first."""
    _frame.active = True
    try:
        yield
    finally:
        _frame.active = False


def ensure_router() -> None:
    """First line of every page: a page run outside app.py's frame is never drawn; it reruns through app.py."""
    if getattr(_frame, "active", False):
        return
    from streamlit.runtime.pages_manager import PagesManager  # internal: the flag behind the old mode

    PagesManager.uses_pages_directory = False
    st.rerun()
