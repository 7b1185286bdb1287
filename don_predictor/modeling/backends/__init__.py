"""Model backends behind one protocol. TensorFlow is imported inside backends.tf only, when first needed."""

from __future__ import annotations

from don_predictor.modeling.backends.base import Backend, ProgressCallback


def backend_class(name: str) -> type[Backend]:
    if name == "rf":
        from don_predictor.modeling.backends.rf import RandomForestBackend

        return RandomForestBackend
    if name == "tf":
        from don_predictor.modeling.backends.tf import TensorFlowBackend

        return TensorFlowBackend
    if name == "pls":
        from don_predictor.modeling.backends.pls import PLSBackend

        return PLSBackend
    raise ValueError(f"unknown backend {name!r}; choose rf or tf (or pls, the evaluation baseline)")


def make_backend(name: str, **params) -> Backend:
    """The named backend with these settings; an unknown setting is refused in words (checked_settings)."""
    cls = backend_class(name)
    return cls(**cls.checked_settings(params))


__all__ = ["Backend", "ProgressCallback", "backend_class", "make_backend"]
