"""The server entry point: `streamlit run don_predictor/ui/server.py` serves app.py through st.App (Streamlit's ASGI
app), which lets the project add its own middleware, routes and start-up.

- The middleware closes Streamlit's /_stcore/metrics endpoint: it answers without any login and lists internal
  function names and cache sizes. Streamlit has no option to turn it off; an ASGI middleware is its documented way
  to filter requests.
- `/livez` (liveness: the process serves requests) and `/readyz` (readiness: a backend can score, its model files
  verified against their checksums; 503 otherwise) answer on the app's own port. Streamlit's `/_stcore/health` says
  ok as soon as the server runs, with no model or a damaged one: a balancer would send users to a replica that
  cannot score.
- The start-up (the lifespan) starts the Prometheus /metrics server with the server process, so a fresh replica can
  be scraped before anyone opens a page (it used to start with the first page run).
"""

from __future__ import annotations

import importlib
import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"
# `streamlit run don_predictor/ui/server.py` puts this file's folder on sys.path, not the project's (the container
# does not install the package): app.py gets its folder when Streamlit runs it, the imports below need it now.
if str(APP_SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(APP_SCRIPT.parent))

from don_predictor.config import SettingsError, settings  # noqa: E402
from don_predictor.logs import setup_logging  # noqa: E402
from don_predictor.services.history_gauges import serve_metrics  # noqa: E402
from don_predictor.services.readiness import readiness  # noqa: E402
from don_predictor.tracing import setup_tracing  # noqa: E402

CLOSED_PATHS = ("/_stcore/metrics",)


class CloseInternalEndpoints:
    """Answers 404 for Streamlit endpoints that must not be reachable without the login."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith(CLOSED_PATHS):
            await PlainTextResponse("Not found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def live(_request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def ready(_request) -> JSONResponse:
    """200 when at least one backend can score, else 503; the body says each backend's state (no server paths).
    A plain function: Starlette runs it in a worker thread, so a first verification's hashing never blocks the
    event loop."""
    try:
        state = readiness(settings().models_dir)
    except SettingsError as error:
        return JSONResponse({"ready": False, "error": str(error)}, status_code=503)
    return JSONResponse({"ready": state.ready, "backends": state.backends}, status_code=200 if state.ready else 503)


@asynccontextmanager
async def started(_app):
    """With the server process, before any page: logging, tracing (the OTEL_* variables) and the /metrics server
    (DON_METRICS_PORT)."""
    setup_tracing()
    try:
        config = settings()
    except SettingsError:  # the first page says what is wrong (app.py), as before
        config = None
    if config is not None:
        setup_logging(config.log_level)
        serve_metrics(config)  # 0: off; a port in use is logged, the app still serves
    warming = threading.Thread(target=import_page_modules, name="import-pages", daemon=True)
    warming.start()
    yield


# What the first page run imports: about 4 s of pandas, plotly, scikit-learn and the app's own modules, during which
# the first visitor after a start saw a blank page. Imported beside the starting server instead; a page run that
# comes sooner waits on Python's import lock for the same modules, never imports them twice.
PAGE_MODULES = (
    "don_predictor.ui.frame",
    "don_predictor.ui.login",
    "don_predictor.ui.predict_page",
    "don_predictor.ui.training_panels",
    "don_predictor.services.monitoring",
    "don_predictor.plots",
)


def import_page_modules() -> None:
    for name in PAGE_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:  # the page run that needs it reports the error properly
            print(f"warning: could not import {name} at start: {type(error).__name__}: {error}", file=sys.stderr)


app = st.App(
    str(APP_SCRIPT),
    middleware=[Middleware(CloseInternalEndpoints)],
    routes=[Route("/livez", live), Route("/readyz", ready)],
    lifespan=started,
)
