"""User-supplied text is shown as what it is: a file named like a Markdown link is no link on any page, and ids or
lots with invisible or direction-changing characters are flagged on their row and shown escaped in pages, report and
workbook."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pandas as pd
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_exports import METADATA, hand_made_results

from don_predictor.plain_text import markdown_literal, visible
from don_predictor.scoring.run import Lots
from don_predictor.services import exports
from don_predictor.spectra.reader import read_spectra

EVIL = "[Session expired, log in again](https:evil.example).csv"
RTL = "lot\u202efdp.exe"
LINK = re.compile(r"(?<!\\)\]\s*(?<!\\)\(")  # "](" with neither bracket escaped: Markdown would make a link


def test_markdown_literal_leaves_no_link_emphasis_or_directive():
    shown = markdown_literal(EVIL)
    assert not LINK.search(shown) and "\\[Session expired" in shown
    assert markdown_literal("**bold** :red[x] :material/lock: <b>") == (
        "\\*\\*bold\\*\\* \\:red\\[x\\] \\:material/lock\\: \\<b\\>"
    )
    assert visible(RTL) == "lot\\u202efdp.exe" and visible("ab\u200bc") == "ab\\u200bc" and visible("abc") == "abc"
    assert markdown_literal(RTL) == "lot\\\\u202efdp\\.exe"  # the escape itself shows as typed


def test_hidden_characters_in_ids_and_lots_are_flagged_on_their_row_and_the_rows_are_used():
    data = f"hsi_id,lot,0,1,2,3,vomitoxin_ppb\nabc,L1,0.1,0.2,0.3,0.4,500\nab\u200bc,{RTL},0.2,0.1,0.3,0.5,600\n"
    table = read_spectra(data.encode(), require_target=True)
    flagged = [p for p in table.problems if p.warning_only]
    assert [(p.row, p.column) for p in flagged] == [(2, "hsi_id"), (2, "lot")]
    assert "\\u200b" in flagged[0].reason and "\\u202e" in flagged[1].reason and flagged[1].value == visible(RTL)
    assert "\\u200b" in flagged[0].message  # the row's message names row, id and column, escaped
    assert table.scorable.all() and table.trainable.all() and table.statuses() == ["ok", "ok"]
    assert table.ids[1] == "ab\u200bc"  # kept as read: the CSV download gives the lab its own id back


def test_report_and_workbook_show_hidden_characters_escaped():
    results = hand_made_results()
    results.loc[2, "sample_id"] = "ab\u200bc"
    results.loc[2, "lot"] = RTL
    lots = Lots(results["lot"].tolist(), results["sample_id"].tolist(), {"rf": results["rf_verdict"].to_numpy()})
    meta = {**METADATA, "input_file": EVIL.replace(".csv", "\u202e.csv")}
    html = exports.report_html(results, lots, meta, ["rf"], measured=np.array([480, 7000, 1600, 10, 0, 900.0]))
    assert "\u202e" not in html and "\u200b" not in html
    assert "lot\\u202efdp.exe" in html and "ab\\u200bc" in html and "\\u202e.csv" in html
    book = pd.read_excel(io.BytesIO(exports.workbook_bytes(results, exports.lots_file(lots), meta)), sheet_name=None)
    assert book["results"]["sample_id"][2] == "ab\\u200bc" and book["results"]["lot"][2] == "lot\\u202efdp.exe"
    assert "lot\\u202efdp.exe" in book["lots"]["lot"].tolist()
    run = dict(zip(book["run"]["item"], book["run"]["value"], strict=True))
    assert run["input_file"].endswith("\\u202e.csv")


def test_a_file_named_like_a_link_is_plain_text_on_the_status_page(tmp_path, monkeypatch):
    """Training on such a file put a working link on Status for every user (the job's description names it)."""
    from don_predictor.services import jobs

    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path / "models"))
    job = jobs.start_job("training", lambda progress: None, description=f"RF on {EVIL} (60 rows)", user="[ann](x:y)")
    while job.running:  # the work returns at once
        time.sleep(0.01)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/status.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    shown = [e.value for e in [*at.caption, *at.info] if "Session expired" in e.value]
    assert shown and not any(LINK.search(value) for value in shown), shown


def _results_and_lots() -> None:
    from don_predictor.scoring.frame_views import lot_table
    from don_predictor.ui.results import readable_lots, results_table
    from tests.test_exports import hand_made_results

    results = hand_made_results()
    results.loc[2, "sample_id"] = "ab\u200bc"
    results.loc[2, "lot"] = "lot\u202efdp.exe"
    lots = lot_table(results["lot"].tolist(), results["sample_id"].tolist(), {"rf": results["rf_verdict"].to_numpy()})
    results_table(results, ["rf"])
    import streamlit as st

    st.dataframe(readable_lots(lots))


def test_the_pages_tables_show_hidden_characters_escaped():
    at = AppTest.from_function(_results_and_lots, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    results, lots = (df.value for df in at.dataframe)
    assert results["sample_id"].iloc[2] == "ab\\u200bc" and results["lot"].iloc[2] == "lot\\u202efdp.exe"
    assert "lot\\u202efdp.exe" in lots["lot"].tolist() and not lots["lot"].str.contains("\u202e").any()
