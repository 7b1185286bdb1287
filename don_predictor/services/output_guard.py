"""Outputs that would overwrite the input: refused before anything is written.

`predict --data x.csv --out x.csv` used to truncate the spectra it was reading and exit 0. A name can reach the
input many ways (`./sub/../x.csv`, a symlink, a hard link), so paths are compared after resolving them, and an output
that exists already is compared by file identity (os.path.samefile). `file://` URLs are local paths; other URLs
(s3://...) are not local files: skipped.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path


class OutputOverwritesInput(ValueError):
    """An output flag names the input (or, for a folder output, a folder holding it)."""


def _local(path: str) -> bool:
    return "://" not in _plain(path)


def _plain(path: str | Path) -> str:
    return str(path).removeprefix("file://")


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(_plain(path))))


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether `a` and `b` are one file: by identity when both exist, else by their resolved paths."""
    try:
        return os.path.samefile(_plain(a), _plain(b))
    except OSError:  # one of them does not exist yet: where it would be created
        return _resolved(a) == _resolved(b)


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_file_outputs(data: str, outputs: dict[str, str | None]) -> None:
    """Raise OutputOverwritesInput naming the first flag whose file is the input. `outputs`: {flag: path}."""
    if not _local(data):
        return
    for flag, path in outputs.items():
        if path and _local(path) and same_file(data, path):
            raise OutputOverwritesInput(
                f"{flag} {path} is the input file {data}: writing there would destroy the spectra; name another file"
            )
    named = [(flag, path) for flag, path in outputs.items() if path and _local(path)]
    for (flag, path), (other_flag, other) in itertools.combinations(named, 2):
        if same_file(path, other):
            raise OutputOverwritesInput(f"{flag} and {other_flag} name the same file ({path}); name two files")


def check_folder_output(data: str, flag: str, folder: str) -> None:
    """A results folder (the Dask engine's --out) must neither hold the input nor lie inside an input folder: the
    engine deletes the folder's old part-*.parquet files before it writes."""
    if not (_local(data) and _local(folder)):
        return
    source, target = _resolved(data), _resolved(folder)
    if _inside(source, target) or (source.is_dir() and _inside(target, source)):
        raise OutputOverwritesInput(
            f"{flag} {folder} holds the input {data}: the results would be written among the input's files; "
            "name a folder outside it"
        )


def check_not_protected(outputs: dict[str, str | None], protected: dict[str, str | Path | None]) -> None:
    """Raise OutputOverwritesInput when an output names a file the app keeps (the prediction history, the users
    file) or lies inside the models directory: `predict --worklist-out history.sqlite` wrote a CSV over the history.
    `protected`: {what it is: path}."""
    for flag, path in outputs.items():
        if not (path and _local(path)):
            continue
        for what, kept in protected.items():
            if kept is None or not _local(str(kept)):
                continue
            if same_file(path, kept) or (_resolved(kept).is_dir() and _inside(_resolved(path), _resolved(kept))):
                raise OutputOverwritesInput(
                    f"{flag} {path} is {what}: writing there would destroy it; name another file"
                )
