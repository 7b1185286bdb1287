"""Logging to stdout: one line per event with a level and key=value context. Never uploaded values, only ids/counts."""

from __future__ import annotations

import logging
import sys

from don_predictor.tracing import current_trace_id

LOGGER_NAME = "don_predictor"
_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time (Streamlit and test runners replace it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


class _TraceFormatter(logging.Formatter):
    """Ends a line logged inside a traced span with its trace id: the log and the trace viewer meet on it."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        trace_id = current_trace_id()
        return f"{line} trace_id={trace_id}" if trace_id else line


def setup_logging(level: str = "INFO") -> logging.Logger:
    """Idempotent: Streamlit reruns app.py on every click, and each rerun must not add another handler."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, "_don_predictor", False) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(_TraceFormatter(_FORMAT))
        handler._don_predictor = True
        logger.addHandler(handler)
        logger.propagate = False
    return logger


def event(name: str, level: int = logging.INFO, **context) -> None:
    """Log one event: `name key=value key=value`, values quoted when they hold spaces."""
    parts = [name]
    for key, value in context.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        text = str(value)
        parts.append(f"{key}={text!r}" if " " in text or not text else f"{key}={text}")
    logging.getLogger(LOGGER_NAME).log(level, " ".join(parts))
