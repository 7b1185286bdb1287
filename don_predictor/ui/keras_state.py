"""Keep Keras' state across script runs: Streamlit clears it after every run, and that stalled training in the app.

Streamlit's script runner calls `keras.backend.clear_session()` after every script run once Keras is imported
(`_clean_problem_modules`), fragment reruns included. clear_session runs a full gc.collect() and clears TensorFlow's
eager kernel cache, which the training job's thread is using: with the Train page's progress redrawn every second, a
TF fit on the dev data took about 2 s per epoch in the app against 10 ms on the command line (py-spy showed the
script threads in clear_session). The clean-up guards against a Keras layer-name counter growing across reruns;
this project names every layer itself (modeling/backends/tf.py), so nothing depends on it. Streamlit has no option to
turn it off: the function is replaced once per process, keeping its other clean-up (matplotlib figures).
"""

from __future__ import annotations

import contextlib
import sys


def _clean_problem_modules_but_keras() -> None:
    if "matplotlib.pyplot" in sys.modules:
        with contextlib.suppress(Exception):  # as Streamlit's own: a failed close must not crash a page
            sys.modules["matplotlib.pyplot"].close("all")


def keep_keras_state_across_runs() -> None:
    """Idempotent; frame.start_up calls it once per process, before its first script run ends."""
    from streamlit.runtime.scriptrunner import script_runner

    script_runner._clean_problem_modules = _clean_problem_modules_but_keras
