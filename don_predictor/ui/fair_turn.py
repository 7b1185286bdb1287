"""A page's turn to score (services/fair_use.py): while it waits the page says where it stands, updated every half
second; a refusal is raised as fair_use.Busy for the page to show."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from don_predictor.config import settings
from don_predictor.services.fair_use import Limits, busy_message, scoring_queue
from don_predictor.ui.login import current_user


def _limits() -> Limits:
    config = settings()
    return Limits(
        concurrent=config.scoring_concurrency,
        rows_in_flight=config.scoring_max_rows,
        user_rows_per_minute=config.user_rows_per_minute,
        queue_max=config.scoring_queue_max,
        queue_timeout_s=config.scoring_queue_timeout,
    )


def _who() -> str:
    """The signed-in user, else this browser session (no login: each session has its own budget)."""
    user = current_user()
    if user:
        return f"user:{user}"
    context = get_script_run_ctx()
    return f"session:{context.session_id if context else 'none'}"


@contextlib.contextmanager
def scoring_turn(rows: int) -> Iterator[None]:
    """Wait for this upload's turn (saying so on the page), hold it for the block. Raises fair_use.Busy."""
    notice = st.empty()

    def say(ahead: int, seconds: float) -> None:
        notice.warning(busy_message(ahead, seconds) + ": your upload is scored as soon as its turn comes")

    try:
        with scoring_queue(_limits()).slot(rows, _who(), say):
            notice.empty()
            yield
    finally:
        notice.empty()
