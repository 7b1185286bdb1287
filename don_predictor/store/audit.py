"""The audit trail: each governed action is a log event and a row in the history database's audit table.

A failure to write the row never stops the action (a login must not fail because the disk is full), and never loses
the event: the whole event goes to the log as one JSON line (`audit_unsaved {...}`, to replay or ship) and
`don_audit_events_unsaved_total` counts it, which an alert can watch.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from don_predictor.config import settings
from don_predictor.logs import LOGGER_NAME, event
from don_predictor.services import metrics
from don_predictor.store.history import list_audit, record_audit

__all__ = ["audit", "list_audit", "readable_detail"]


def audit(action: str, *, user: str | None = None, **detail) -> None:
    """Log `action` with its user and details, and keep it in the audit table."""
    metrics.observe_audit(action)
    detail = {key: _no_password(value) for key, value in detail.items()}
    level = logging.WARNING if action in ("login_failed", "login_locked", "activation_override") else logging.INFO
    event(action, level, user=user or "-", **detail)
    when = datetime.now(UTC)
    try:
        record_audit(settings().history_db, action, user, detail, when=when)
    except Exception as error:  # a locked or broken database, a full disk: logged in full, never raised
        metrics.HISTORY_WRITE_ERRORS.labels("audit").inc()
        metrics.AUDIT_UNSAVED.labels(action).inc()
        unsaved = {"time": when.isoformat(), "user": user, "action": action, "detail": detail}
        logging.getLogger(LOGGER_NAME).error(
            "audit_unsaved %s error=%s", json.dumps(unsaved, default=str, sort_keys=True), type(error).__name__
        )


def _no_password(value):
    """A URL with a password (the start event's history location) is logged and kept without it."""
    return re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:***@", value) if isinstance(value, str) else value


def readable_detail(detail: str | None) -> str:
    """A stored detail (JSON) as one line a reader scans: "backend rf · version 2026… · previous 2026…"."""
    try:
        fields = json.loads(detail) if detail else {}
    except ValueError:
        return str(detail)
    if not isinstance(fields, dict):
        return str(detail)
    return " · ".join(f"{key.replace('_', ' ')} {value}" for key, value in fields.items() if value not in (None, ""))
