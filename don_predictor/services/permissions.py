"""Who may do what: the one table of roles and the actions each allows, consulted by the pages, the registry layer
and the command line. No Streamlit here.

An action not in a role's set is refused, whatever the page shows: a check here runs on the server when the action
happens (a deferred download checks again when its file is built), not only when a button is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("viewer", "analyst", "admin")

_VIEWER = frozenset({"score", "own_results"})  # upload and score; see and download their own runs
_ANALYST = _VIEWER | {"train", "export", "all_results", "lab_results"}  # calibrate, see every run, record lab values
_ADMIN = _ANALYST | {"activate", "rollback", "import", "audit", "database_copy", "server_paths"}
ALLOWED: dict[str, frozenset[str]] = {"viewer": _VIEWER, "analyst": _ANALYST, "admin": _ADMIN}

# What a refusal says the action is, in a sentence: "Your role (viewer) cannot <this>: it needs admin."
DESCRIPTIONS = {
    "score": "score files",
    "own_results": "see its results",
    "all_results": "see other users' runs",
    "train": "train models",
    "export": "export a model version",
    "activate": "activate a model version",
    "rollback": "roll back a model version",
    "import": "import a model version",
    "audit": "see the audit trail",
    "database_copy": "download the history database",
    "server_paths": "see server paths",
    "lab_results": "record lab results",
}


class PermissionDenied(Exception):
    """The actor's role does not allow the action; the message names both and the role that would."""


@dataclass(frozen=True)
class Actor:
    """Who acts: the signed-in user (None without a login) and their role at the time of the action."""

    name: str | None
    role: str


def allows(role: str | None, action: str) -> bool:
    """True when `role` may do `action`; an unknown role or action is refused."""
    if action not in DESCRIPTIONS:
        raise KeyError(f"unknown action {action!r}")  # a typo in a caller must not read as 'refused' silently
    return action in ALLOWED.get(role or "", frozenset())


def needed_role(action: str) -> str:
    """The least role that allows `action`."""
    return next(role for role in ROLES if action in ALLOWED[role])


def refusal(role: str | None, action: str) -> str:
    return f"Your role ({role or 'none'}) cannot {DESCRIPTIONS[action]}: it needs {needed_role(action)}."


def require(actor: Actor | None, action: str) -> None:
    """Raise PermissionDenied unless the actor may do `action`. None is the process itself (a test, a library call
    with file access to the registry anyway); the pages and the command line always pass their actor."""
    if actor is not None and not allows(actor.role, action):
        raise PermissionDenied(refusal(actor.role, action))
