"""Saving and loading scikit-learn objects without pickle: skops, with an explicit list of trusted types.

A model file can come from a backup zip that someone else made; unpickling it could run any code. skops refuses
every type that is not on the list below (plus the numpy / scikit-learn types skops trusts by default).
"""

from __future__ import annotations

from pathlib import Path

import skops.io as sio

# Exactly the types our pipelines hold that skops does not trust by default.
TRUSTED_TYPES = [
    "chemotools.scatter._standard_normal_variate.StandardNormalVariate",
    "chemotools.derivative._savitzky_golay.SavitzkyGolay",
    "chemotools.scatter._multiplicative_scatter_correction.MultiplicativeScatterCorrection",
    "sklearn.tree._tree.Tree",
]


class UnsafeModelError(ValueError):
    """A model file holds types outside the trusted list."""


def dump_sklearn(obj, path: Path) -> None:
    sio.dump(obj, Path(path))


def load_sklearn(path: Path):
    path = Path(path)
    untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if untrusted:
        raise UnsafeModelError(f"{path.name} holds types that are not trusted: {', '.join(untrusted)}")
    return sio.load(path, trusted=TRUSTED_TYPES)
