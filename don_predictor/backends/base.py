"""The one protocol every backend follows: fit, predict (ppb), save, load."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from don_predictor.trust import Trust

ProgressCallback = Callable[[float, str], None]  # (fraction done 0..1, what is happening)

PARAMS_FILE = "backend.json"


def no_progress(fraction: float, message: str) -> None:
    """The default progress callback: says nothing."""


def available_cores() -> int:
    """The CPU cores this process may run on (a container's or taskset's share, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class Backend(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.label} has no setting {', '.join(sorted(unknown))}")
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.band_names: list[str] = []
        self.fitted: dict[str, Any] = {}  # small fitted numbers (e.g. target scaling) saved in backend.json
        self.history: dict[str, list[float]] = {}  # loss curves, when the backend has them
        self.trust: Trust | None = None  # intervals and applicability domain, fitted by training.py

    @property
    def target_transform(self) -> str:
        return self.params.get("target_transform", "none")

    def fit(
        self, X: np.ndarray, y: np.ndarray, band_names: list[str], progress: ProgressCallback = no_progress
    ) -> Self:
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        if X.shape[1] != len(band_names):
            raise ValueError(f"X has {X.shape[1]} columns but {len(band_names)} band names were given")
        self.band_names = list(band_names)
        self._fit(X, y, progress)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """DON in ppb, one value per row of X, never negative."""
        X = self._checked(X)
        if len(X) == 0:
            return np.empty(0)
        return np.clip(self._predict(X), 0.0, None)

    def predict_with_trust(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """ppb, plus low_ppb / high_ppb (when intervals were calibrated), in_domain, t2, q and baseline (when
        fitted). The model runs once: its prediction and its difficulty come from the same pass."""
        X = self._checked(X)
        if len(X):
            ppb, difficulty = self._predict_with_difficulty(X)
            out = {"ppb": np.clip(ppb, 0.0, None)}
        else:
            out, difficulty = {"ppb": np.empty(0)}, self.difficulty(X)
        if self.trust is None:
            return out
        if self.trust.intervals is not None:
            out["low_ppb"], out["high_ppb"] = self.trust.intervals.interval(out["ppb"], difficulty)
        if len(out["ppb"]):
            out["in_domain"], out["t2"], out["q"], out["baseline"] = self.trust.domain.in_domain(X)
        else:  # no scorable row: the same columns, empty
            out["in_domain"], out["t2"], out["q"], out["baseline"] = np.empty(0, bool), *([np.empty(0)] * 3)
        return out

    def _checked(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.shape[1] != len(self.band_names):
            raise ValueError(f"the model expects {len(self.band_names)} bands, got {X.shape[1]}")
        return X

    def _predict_with_difficulty(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Prediction (ppb, before clipping) and difficulty of non-empty X. Backends whose difficulty comes from the
        same computation as the prediction (trees, ensemble members) override this to run once."""
        return self._predict(X), self.difficulty(X)

    def difficulty(self, X: np.ndarray) -> np.ndarray | None:
        """How unsure the model is about each row, on the sqrt(ppb) scale; None when it cannot tell."""
        return None

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {"backend": self.name, "params": self.params, "band_names": self.band_names}
        state |= {"fitted": self.fitted, "history": self.history}
        (directory / PARAMS_FILE).write_text(json.dumps(state, indent=1))
        if self.trust is not None:
            self.trust.save(directory)
        self._save(directory)

    @classmethod
    def load(cls, directory: Path) -> Self:
        directory = Path(directory)
        state = json.loads((directory / PARAMS_FILE).read_text())
        if state["backend"] != cls.name:
            raise ValueError(f"{directory} holds a {state['backend']} model, not {cls.name}")
        backend = cls(**state["params"])
        backend.band_names = state["band_names"]
        backend.fitted = state.get("fitted", {})
        backend.history = state.get("history", {})
        backend.trust = Trust.load(directory)
        backend._load(directory)
        return backend

    @abstractmethod
    def _fit(self, X: np.ndarray, y: np.ndarray, progress: ProgressCallback) -> None: ...

    @abstractmethod
    def _predict(self, X: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _save(self, directory: Path) -> None: ...

    @abstractmethod
    def _load(self, directory: Path) -> None: ...
