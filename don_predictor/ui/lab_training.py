"""The Train page's offer of the lab's confirmed samples: the calibration file plus the samples the lab measured
since a date (their spectra kept by the history), with what they add, as one training set."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from don_predictor.config import settings
from don_predictor.lab.retraining import confirmed_samples, retraining_set
from don_predictor.plain_text import markdown_literal
from don_predictor.spectra.table import SpectraTable
from don_predictor.store.history import HistoryError

DEFAULT_SINCE_DAYS = 365


def with_lab_confirmed(table: SpectraTable, data: bytes, name: str) -> tuple[SpectraTable, bytes, str]:
    """The table, bytes and name to train on: the calibration file's own, or (when the user ticks it) those of the
    file plus the lab-confirmed samples since the chosen date. The bytes stand for the set in the version's hash:
    the confirmed samples' ids and values are appended to the file's, so another set is another hash."""
    try:
        everything = confirmed_samples(settings().history_db)
    except HistoryError as error:
        st.caption(f"The lab's confirmed samples cannot be read: {markdown_literal(str(error))}")
        return table, data, name
    if not everything.ids:
        st.caption("No lab-confirmed sample yet: results recorded on the Lab results page can join a calibration.")
        return table, data, name
    left, right = st.columns([2, 1])
    since_day = right.date_input(
        "confirmed since", date.today() - timedelta(days=DEFAULT_SINCE_DAYS), key="lab_confirmed_since"
    )
    since = datetime.combine(since_day, time.min, tzinfo=UTC)
    confirmed = confirmed_samples(settings().history_db, since)
    n = len(confirmed.ids)
    use = left.checkbox(
        f"Add {n} lab-confirmed samples since {since_day:%Y-%m-%d}",
        value=False,
        disabled=n == 0,
        key="lab_confirmed_add",
        help="Samples the screen sent to the lab or drew to verify, with the lab's measured value: the best new "
        "calibration data there is. The new version is a challenger, reviewed as usual.",
    )
    if not use or n == 0:
        return table, data, name
    combined, summary = retraining_set(table, confirmed)
    st.info("  \n".join(markdown_literal(line) for line in summary.lines()))
    listed = "".join(f"{i},{v!r}\n" for i, v in zip(confirmed.ids, confirmed.measured_ppb, strict=True))
    return combined, data + f"\n# + lab-confirmed samples\n{listed}".encode(), f"{name} + {summary.added} lab-confirmed"
