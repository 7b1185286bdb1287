"""The server entry point: `streamlit run don_predictor/ui/server.py` serves app.py through st.App (Streamlit's ASGI
app), which lets the project add its own middleware.

The middleware closes Streamlit's /_stcore/metrics endpoint: it answers without any login and lists internal
function names and cache sizes. Streamlit has no option to turn it off; an ASGI middleware is its documented way to
filter requests.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"
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


app = st.App(str(APP_SCRIPT), middleware=[Middleware(CloseInternalEndpoints)])
