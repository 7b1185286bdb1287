"""Whole-file warnings as data (a code and its values, worded in one place): a file read in batches says what the
file read whole says."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from don_predictor.scoring.pipeline import screen
from don_predictor.services.batch import Summary
from don_predictor.spectra import file_warnings as fw
from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.stream import batches
from don_predictor.trust.screening import DEFAULT_RISK

BANDS = 20


def spectra_file(path: Path, ids: list[str], far: set[int] = frozenset(), delimiter: str = ",") -> Path:
    """A file of len(ids) spectra; the rows (1-based) in `far` hold percent, not reflectance."""
    rng = np.random.default_rng(0)
    lines = [delimiter.join(["hsi_id", *map(str, range(BANDS))])]
    for row, sample in enumerate(ids, start=1):
        values = rng.uniform(0.2, 0.8, BANDS) * (100 if row in far else 1)
        lines.append(delimiter.join([sample, *(f"{v:.6f}" for v in values)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def streamed(path: Path, batch_bytes: int) -> tuple[Summary, int]:
    summary = Summary()
    count = 0
    for batch in batches(path, batch_bytes):
        summary.add(batch, screen(batch.table, {}, 1500.0, DEFAULT_RISK), keep_rows=0)  # no model: reading only
        count += 1
    summary.finish([])
    return summary, count


def test_ids_repeated_in_two_batches_give_one_warning_with_the_rows_of_both(tmp_path):
    # 'a' twice in the first batch, 'b' in the first and the second, 'c' twice in the second
    ids = ["a", "x1", "a", "b", "x2", "x3", "x4", "x5", "b", "c", "x6", "c"]
    path = spectra_file(tmp_path / "twice.csv", ids)
    summary, count = streamed(path, batch_bytes=800)
    assert count >= 2
    repeated = [w for w in summary.file_warnings if w.code == fw.REPEATED_IDS]
    assert repeated == [fw.FileWarning(fw.REPEATED_IDS, {"count": 3, "first_rows": [1, 4, 10]})]
    assert summary.warnings.count("3 ids appear more than once (first seen at rows 1, 4, 10)") == 1
    # read whole, the file names the ids and every row
    (whole,) = [w for w in read_spectra(path).file_warnings if w.code == fw.REPEATED_IDS]
    assert whole.values == {"count": 3, "ids": [("a", [1, 3]), ("b", [4, 9]), ("c", [10, 12])]}
    assert whole.text == "3 ids appear more than once: 'a' on rows 1 and 3; 'b' on rows 4 and 9; 'c' on rows 10 and 12"


def test_far_rows_and_empty_rows_are_summed_over_batches_and_worded_as_the_whole_file_is(tmp_path):
    ids = [f"s{i}" for i in range(40)]
    path = spectra_file(tmp_path / "percent.csv", ids, far={2, 3, 25, 30, 31, 38, 39})
    with path.open("a") as out:
        out.write("," * BANDS + "\n")  # a row of empty cells: skipped, and said so
    summary, count = streamed(path, batch_bytes=900)
    assert count >= 3
    table = read_spectra(path)
    assert summary.file_warnings == table.file_warnings
    assert fw.FileWarning(fw.FAR_REFLECTANCE, {"count": 7, "rows": [2, 3, 25, 30, 31]}) in table.file_warnings
    assert fw.FileWarning(fw.EMPTY_ROWS, {"count": 1}) in table.file_warnings
    assert summary.warnings == table.warnings


def test_a_table_keeps_its_warnings_as_data_and_shows_them_as_sentences(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("status,note,0,1,2\na,x,0.1,0.2,0.3\nb,y,0.2,0.3,0.4\n")
    table = read_spectra(path)
    assert [w.code for w in table.file_warnings] == [fw.IGNORED_COLUMNS, fw.RENAMED_ID]
    assert table.file_warnings[1].values == {"column": "status", "output": "input_status"}
    assert table.warnings == [w.text for w in table.file_warnings]
    assert table.warnings[1] == (
        "the id column 'status' is also the name of a results column (status, rf_..., tf_...): the results call it "
        "'input_status'"
    )


def test_every_warning_code_is_worded():
    assert set(fw._WORDING) == {
        fw.IGNORED_COLUMNS,
        fw.NO_ID_COLUMN,
        fw.REPEATED_IDS,
        fw.FAR_REFLECTANCE,
        fw.EMPTY_ROWS,
        fw.RENAMED_ID,
    }
