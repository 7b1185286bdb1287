"""The upload widget (drag and drop, or the demo file) and the validation report under it."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from don_predictor.logs import event
from don_predictor.plain_text import markdown_literal, visible
from don_predictor.spectra.table import SpectraError, SpectraTable
from don_predictor.tracing import span
from don_predictor.ui.upload_cache import read_upload

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
DEMO_UPLOAD = DATA_DIR / "demo_upload.csv"
DEMO_CALIBRATION = DATA_DIR / "demo_calibration.csv"


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes
    sha256: str = ""  # of data; the caches' key, computed once per uploaded file

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())


def spectra_upload(key: str, *, demo_file: Path = DEMO_UPLOAD, label: str = "Spectra CSV") -> Upload | None:
    """A drop zone plus a 'use the demo file' button. An uploaded file wins over the demo file."""
    demo_flag, generation = f"{key}_use_demo", f"{key}_uploader_generation"

    def use_demo() -> None:
        # Runs before the page does: the drop zone gets a new key, so a file left in it no longer hides the demo
        # file (the button did nothing while a file was in the uploader).
        st.session_state[demo_flag] = True
        st.session_state[generation] = st.session_state.get(generation, 0) + 1

    n = st.session_state.get(generation, 0)
    left, right = st.columns([4, 1], vertical_alignment="center")
    with left:
        uploaded = st.file_uploader(
            label,
            type=["csv", "tsv", "txt"],
            key=f"{key}_file" if n == 0 else f"{key}_file_{n}",
            help="Header row; band columns named by number.",
        )
    with right:
        st.button(
            "Use the demo file", key=f"{key}_demo", help=f"{demo_file.name} (synthetic spectra)", on_click=use_demo
        )
    if uploaded is not None:
        data = uploaded.getvalue()
        known = st.session_state.get(f"{key}_sha256")  # (file id, digest): hash a 150 MB upload once, not per run
        if not known or known[0] != uploaded.file_id:
            known = (uploaded.file_id, hashlib.sha256(data).hexdigest())
            st.session_state[f"{key}_sha256"] = known
        return Upload(uploaded.name, data, known[1])
    if st.session_state.get(demo_flag):
        if not demo_file.exists():
            st.error(f"The demo file {demo_file.name} is missing: run `make data`.")
            return None
        st.caption(f"Using the demo file **{demo_file.name}** (synthetic spectra).")
        return Upload(demo_file.name, demo_file.read_bytes())
    return None


def read_or_report(upload: Upload, *, require_target: bool = False) -> SpectraTable | None:
    """The validated table, or None after showing the reason the file cannot be used."""
    # read_upload keeps parsed tables in one process-wide LRU (ui/upload_cache.py: READ_CACHE), bounded by bytes and by
    # entries, not st.cache_data's 32 entries without a ttl: an upload at the size cap parses into a table of ~200 MB,
    # and a hit hands back the same table instead of an unpickled copy per page run.
    try:
        with span("read", bytes=len(upload.data)) as current:
            table = read_upload(upload.data, require_target, upload.sha256)
            current.set_attributes({"rows": table.n_rows, "bands": len(table.band_names)})
            return table
    except SpectraError as error:
        st.error(f"**{markdown_literal(upload.name)}** cannot be used: " + markdown_literal("; ".join(error.problems)))
        return None
    except Exception as error:  # a bug, not the user's file: logged in full, shown as one plain line
        event("upload_read_failed", logging.ERROR, error=f"{type(error).__name__}: {error}", bytes=len(upload.data))
        st.error(
            f"**{markdown_literal(upload.name)}** could not be read because of an internal error "
            f"({type(error).__name__}); it was logged."
        )
        return None


def validation_report(table: SpectraTable, *, for_training: bool = False) -> None:
    """Rows read and usable, warnings, and every row problem with its row, id and column. For training, a usable
    row also needs its measured value."""
    scorable = int(table.scorable.sum())
    cols = st.columns(4)
    cols[0].metric("rows read", table.n_rows)
    if for_training:
        cols[1].metric("rows usable for training", int(table.trainable.sum()), help="A spectrum and a measured value")
    else:
        cols[1].metric("rows usable", scorable)
    cols[2].metric("rows with problems", len({p.row for p in table.problems}))
    cols[3].metric("bands", len(table.band_names))
    for warning in table.warnings:  # they quote the file's ids and cells
        st.warning(markdown_literal(warning))
    if scorable == 0:
        st.error("No row can be scored: every row has a problem (see the list below).")
    if table.problems:
        frame = pd.DataFrame(
            [
                {
                    "row": p.row,
                    "id": visible(p.id),
                    "column": visible(p.column),
                    "value": visible(p.value),
                    "problem": p.reason,
                }
                for p in table.problems
            ]
        )
        with st.expander(f"{len(table.problems)} problems in the file", expanded=len(table.problems) <= 20):
            st.dataframe(frame, hide_index=True, width="stretch")


def target_of(table: SpectraTable) -> np.ndarray | None:
    """The measured DON when the upload carries it for at least one usable row."""
    if table.target is None or not table.trainable.any():
        return None
    return np.where(table.trainable, table.target, np.nan)
