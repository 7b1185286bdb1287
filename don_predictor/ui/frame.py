"""The frame around every page: the sidebar with the active model versions."""

from __future__ import annotations

import streamlit as st

from don_predictor import __version__
from don_predictor.config import Settings, settings
from don_predictor.history import delete_older_than
from don_predictor.limits import LIMITS, Limit, get_limit
from don_predictor.logs import event, setup_logging
from don_predictor.ui.models import active_versions

LIMIT_KEY = "limit_key"


@st.cache_resource(show_spinner=False)
def start_up() -> Settings:
    """Once per process: read and check the settings, set up logging, apply the history retention."""
    config = settings()
    setup_logging(config.log_level)
    deleted = (
        delete_older_than(config.history_db, config.history_retention_days) if config.history_retention_days else 0
    )
    event("start", models_dir=config.models_dir, history_db=config.history_db, retention_deleted=deleted)
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
            help="Verdicts: below / above when the whole 90 % interval is on one side, else inconclusive.",
        )
        st.markdown("### Active models")
        versions, problems = active_versions()
        for backend, version in versions.items():
            r2 = version.cv_metrics.get("metrics", {}).get("r2_log", {}).get("mean")
            quality = f" · CV R² log {r2:.2f}" if r2 is not None else ""
            st.caption(f"**{backend.upper()}** `{version.version}`{quality}")
        for problem in problems:
            st.caption(f":orange[{problem}]")
        st.caption(f"DON Predictor {__version__} · a screening tool, not a reference method")


_redirected = False  # once per process: after app.py has run st.navigation, Streamlit stays in the new mode


def ensure_router() -> None:
    """Make a page run inside app.py's frame (navigation and sidebar) even on a first visit by deep link.

    Streamlit runs scripts in pages/ directly (its old multipage mode) until app.py has called st.navigation once in
    the process, so the first visits to a link such as /compare after a restart would miss the frame. Switching the
    process to the new mode and rerunning sends the visit through app.py, which opens the same page.
    """
    global _redirected
    from streamlit.runtime.pages_manager import PagesManager  # internal: the flag behind the old mode

    if PagesManager.uses_pages_directory and not _redirected:
        _redirected = True
        PagesManager.uses_pages_directory = False
        st.rerun()
