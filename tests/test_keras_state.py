"""Streamlit cleared Keras' session (a full gc.collect() and TensorFlow's kernel cache) after every script run,
fragment reruns included: a TF fit in the app's training thread took ~2 s per epoch against 10 ms on the command
line. The app keeps Keras' state across runs (ui/keras_state.py)."""

from __future__ import annotations

import keras
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from don_predictor.ui.keras_state import keep_keras_state_across_runs


def _page() -> None:
    import streamlit as st

    st.write("a page run")


def clear_sessions_during_runs(monkeypatch, runs: int = 3) -> int:
    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append(1))
    at = AppTest.from_function(_page, default_timeout=30)
    for _ in range(runs):
        at.run()
        assert not at.exception
    return len(calls)


def test_streamlit_alone_clears_the_keras_session_after_every_run(monkeypatch):
    original = script_runner._clean_problem_modules
    monkeypatch.setattr(script_runner, "_clean_problem_modules", original)
    if original.__module__ == "streamlit.runtime.scriptrunner.script_runner":  # not yet replaced in this process
        assert clear_sessions_during_runs(monkeypatch) == 3


def test_the_app_keeps_the_keras_session_across_runs(monkeypatch):
    monkeypatch.setattr(script_runner, "_clean_problem_modules", script_runner._clean_problem_modules)
    keep_keras_state_across_runs()
    assert clear_sessions_during_runs(monkeypatch) == 0
