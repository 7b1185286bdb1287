"""The History page through AppTest on a history of many runs (no models needed): one page of runs at a time, newest
first, the run picker's labels, and the plot over time drawn from this page's runs only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from don_predictor.store.history import RunInfo, engine, record_run
from don_predictor.store.history import tables as t

APP = str(ROOT / "app.py")
RUNS = 120  # three pages of 50, 50 and 20


def run_frame(index: int) -> pd.DataFrame:
    """Two rows; run i predicts i + 1 and i + 2 ppb, so a plotted point names its run."""
    return pd.DataFrame(
        {
            "hsi_id": [f"r{index}_a", f"r{index}_b"],
            "status": ["ok", "ok"],
            "rf_ppb": [index + 1.0, index + 2.0],
            "rf_verdict": ["below", "above" if index % 10 == 0 else "below"],
        }
    )


@pytest.fixture()
def history(tmp_path, monkeypatch) -> tuple[list[str], datetime]:
    """RUNS runs, one a minute, the newest (run 0) a minute ago; returns their ids, newest first."""
    db = tmp_path / "history.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(db))
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path / "models"))
    now = datetime.now(UTC).replace(microsecond=0)
    ids = []
    for i in range(RUNS):
        version = "v2" if i < 7 else "v1"
        ids.append(record_run(db, run_frame(i), "hsi_id", RunInfo("cli", {"rf": version}, f"file_{i}.csv", "x")))
    with engine(db).begin() as connection:
        for i, run_id in enumerate(ids):
            when = now - timedelta(minutes=i + 1)
            connection.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(created_at=when))
    return ids, now


def open_history() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/history.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def widget(widgets, label: str):
    """The one widget with this label."""
    (found,) = [w for w in widgets if w.label == label]
    return found


def runs_table(at: AppTest) -> pd.DataFrame:
    (table,) = [df.value for df in at.dataframe if "run_id" in df.value.columns]
    return table


def plotted_ppb(at: AppTest) -> set[float]:
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    values = set()
    for trace in spec["data"]:
        y = trace["y"]
        if isinstance(y, dict):  # a typed array: base64 bytes
            import base64

            y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist()
        values.update(float(v) for v in y)
    return values


def test_the_history_shows_one_page_of_runs_newest_first(history):
    ids, now = history
    at = open_history()
    assert at.title[0].value == "Prediction history"
    assert any(c.value.startswith(f"Runs 1–50 of {RUNS}, newest first (page 1 of 3)") for c in at.caption)
    table = runs_table(at)
    assert table["run_id"].tolist() == ids[:50]
    assert table["created_utc"].iloc[0] == (now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    picker = widget(at.selectbox, "Run")
    times = [now - timedelta(minutes=i + 1) for i in range(50)]
    assert picker.options == [f"{when:%Y-%m-%d %H:%M:%S} · file_{i}.csv · cli" for i, when in enumerate(times)]
    assert picker.value == ids[0]
    # The plot holds the predictions of this page's runs (runs 0-49: 1..51 ppb), not of older ones.
    assert plotted_ppb(at) == {float(v) for i in range(50) for v in (i + 1, i + 2)}

    page = widget(at.number_input, "Page")
    assert (page.min, page.max, page.value) == (1, 3, 1)
    page.set_value(3).run()
    assert not at.exception, [e.message for e in at.exception]
    assert runs_table(at)["run_id"].tolist() == ids[100:]
    assert any(c.value.startswith(f"Runs 101–120 of {RUNS}") for c in at.caption)
    assert plotted_ppb(at) == {float(v) for i in range(100, 120) for v in (i + 1, i + 2)}
    picker = widget(at.selectbox, "Run")
    picker.set_value(ids[110]).run()
    shown = [df.value for df in at.dataframe if "sample_id" in df.value.columns]
    assert shown and shown[0]["sample_id"].tolist() == ["r110_a", "r110_b"]


def test_a_filter_counts_again_and_fits_on_one_page(history):
    ids, _ = history
    at = open_history()
    widget(at.number_input, "Page").set_value(2).run()
    widget(at.text_input, "Model version").set_value("v2").run()
    assert not at.exception, [e.message for e in at.exception]
    assert runs_table(at)["run_id"].tolist() == ids[:7]
    assert not any(n.label == "Page" for n in at.number_input)  # one page: no page picker
    assert any(c.value.startswith("Runs 1–7 of 7") for c in at.caption)
    widget(at.text_input, "Model version").set_value("").run()
    widget(at.selectbox, "Has a sample that is").set_value("above").run()
    assert runs_table(at)["run_id"].tolist() == ids[::10]  # runs 0, 10, ..., 110 have an 'above' row


def test_no_matching_runs_says_where_runs_come_from(history):
    at = open_history()
    widget(at.text_input, "Model version").set_value("no-such-version").run()
    assert not at.exception
    assert any("No runs match" in i.value for i in at.info)
    assert not [df for df in at.dataframe if "run_id" in df.value.columns]
