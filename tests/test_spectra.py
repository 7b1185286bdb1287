"""A catalogue of good and malformed spectra files, each with the exact outcome it must have."""

from __future__ import annotations

import io

import numpy as np
import pytest

from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.table import BandMismatchError, SpectraError

BANDS = ["0", "1", "2", "3", "4"]
SPECTRA = [[0.41, 0.42, 0.43, 0.44, 0.45], [0.51, 0.52, 0.53, 0.54, 0.55], [0.61, 0.62, 0.63, 0.64, 0.65]]
TARGETS = ["120", "0", "5300.5"]


def csv_text(header=None, rows=None, sep=",", decimal=".", ids=("a", "b", "c"), targets=TARGETS, newline="\n") -> str:
    header = header or ["hsi_id", *BANDS, "vomitoxin_ppb"]
    if rows is None:
        rows = []
        for i, spectrum in enumerate(SPECTRA):
            values = [str(v).replace(".", decimal) for v in spectrum]
            rows.append([ids[i], *values, targets[i]] if targets else [ids[i], *values])
    return newline.join(sep.join(row) for row in [header, *rows]) + newline


def good(**kw) -> bytes:
    return csv_text(**kw).encode()


def replace_cell(row: int, column: int, value: str) -> bytes:
    lines = csv_text().splitlines()
    cells = lines[row].split(",")
    cells[column] = value
    lines[row] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


# (name, bytes, expected problems as (row, column, reason start), expected warning fragments)
READABLE_CASES = [
    ("comma", good(), [], []),
    ("semicolon with decimal commas", good(sep=";", decimal=","), [], []),
    ("tab delimited", good(sep="\t"), [], []),
    ("tab delimited with decimal commas", good(sep="\t", decimal=","), [], []),
    ("utf-8 with BOM", b"\xef\xbb\xbf" + good(), [], []),
    ("windows line endings", good(newline="\r\n"), [], []),
    ("quoted header", good(header=['"hsi_id"', *[f'"{b}"' for b in BANDS], '"vomitoxin_ppb"']), [], []),
    ("trailing empty column", csv_text().replace("\n", ",\n").encode(), [], []),
    ("blank lines between rows", csv_text().replace("\n", "\n\n", 2).encode(), [], []),
    ("missing band value", replace_cell(2, 3, ""), [(2, "2", "missing value")], []),
    ("NaN literal", replace_cell(2, 3, "NaN"), [(2, "2", "missing value")], []),
    ("non-numeric band value", replace_cell(1, 1, "abc"), [(1, "0", "not a number")], []),
    ("infinite band value", replace_cell(3, 5, "inf"), [(3, "4", "not a finite number")], []),
    ("negative target", replace_cell(1, 6, "-5"), [(1, "vomitoxin_ppb", "the DON concentration is negative")], []),
    ("non-numeric target", replace_cell(2, 6, "high"), [(2, "vomitoxin_ppb", "the DON concentration is not")], []),
    (
        "row with too few fields",
        csv_text().replace("0.53,0.54,0.55,0", "0.53").encode(),
        [(2, "(whole row)", "the row has 4 fields but the header has 7")],
        [],
    ),
    (
        "row with too many fields",
        csv_text().replace(",120", ",120,9,9").encode(),
        [(1, "(whole row)", "the row has 9 fields but the header has 7")],
        [],
    ),
    ("duplicated ids", good(ids=("a", "a", "c")), [], ["1 ids appear more than once: 'a' on rows 1 and 2"]),
    ("reflectance in percent", csv_text().replace("0.4", "4").encode(), [], ["1 rows have reflectance far outside"]),
    ("extra non-numeric columns", csv_text(header=["hsi_id", *BANDS, "farm"]).encode(), [], ["ignored: 'farm'"]),
    (
        "no id column",
        "\n".join([",".join(BANDS)] + [",".join(map(str, s)) for s in SPECTRA]).encode(),
        [],
        ["no id column"],
    ),
    ("latin-1 ids", good(ids=("maïs", "b", "c")).decode().encode("latin-1"), [], []),
    (
        "wavelength band names",
        good(header=["hsi_id", "400.5", "402.1", "403.7", "405.3", "406.9", "vomitoxin_ppb"]),
        [],
        [],
    ),
    (
        "flat spectrum",
        csv_text().replace("0.51,0.52,0.53,0.54,0.55", "1,1,1,1,1").encode(),
        [(2, "(all bands)", "the spectrum is flat")],
        [],
    ),
    (
        "trailing semicolon row",
        csv_text(sep=";", decimal=",").encode() + b";;;;;;\n",
        [],
        ["1 empty rows were skipped"],
    ),
]


@pytest.mark.parametrize("name,data,problems,warnings", READABLE_CASES, ids=[c[0] for c in READABLE_CASES])
def test_readable_files_have_the_exact_problems_and_warnings(name, data, problems, warnings):
    table = read_spectra(data)
    assert table.n_rows == 3
    assert len(table.band_names) == 5
    found = [(p.row, p.column, p.reason) for p in table.problems]
    assert len(found) == len(problems), found
    for (row, column, reason), (want_row, want_column, want_reason) in zip(found, problems, strict=True):
        assert (row, column) == (want_row, want_column)
        assert reason.startswith(want_reason), reason
    for fragment in warnings:
        assert any(fragment in w for w in table.warnings), table.warnings
    if not warnings:
        assert table.warnings == []
    blocking = {p[0] for p in problems if p[1] != "vomitoxin_ppb"}
    assert [s == "ok" for s in table.statuses()] == [r not in blocking for r in (1, 2, 3)]


def test_values_survive_every_dialect():
    reference = read_spectra(good())
    for data in (good(sep=";", decimal=","), good(sep="\t"), b"\xef\xbb\xbf" + good(newline="\r\n")):
        table = read_spectra(data)
        np.testing.assert_allclose(table.X, reference.X)
        np.testing.assert_allclose(table.target, [120, 0, 5300.5])
        assert table.ids == ["a", "b", "c"] and table.id_column == "hsi_id"


def test_latin1_id_is_decoded():
    assert read_spectra(good(ids=("maïs", "b", "c")).decode().encode("latin-1")).ids[0] == "maïs"


def test_without_id_column_row_numbers_serve():
    table = read_spectra("\n".join([",".join(BANDS), "0.1,0.2,0.3,0.4,0.5", "0.2,0.3,0.4,0.5,0.6"]).encode())
    assert table.ids == ["1", "2"] and table.id_column is None and table.target is None


def test_a_bad_row_keeps_its_id_and_place():
    table = read_spectra(csv_text().replace("0.53,0.54,0.55,0", "0.53").encode())
    assert table.ids == ["a", "b", "c"]
    assert table.statuses()[1].startswith("not scored") and table.statuses()[0] == "ok"
    assert np.isnan(table.X[1]).all() and np.isfinite(table.X[[0, 2]]).all()


def test_target_problem_blocks_training_but_not_scoring():
    table = read_spectra(replace_cell(1, 6, "-5"))
    assert table.scorable.tolist() == [True, True, True]
    assert table.trainable.tolist() == [False, True, True]
    assert "value '-5" in table.problems[0].message and "row 1" in table.problems[0].message


def test_missing_target_is_a_problem_only_when_training():
    data = replace_cell(3, 6, "")
    assert read_spectra(data).problems == []
    problems = read_spectra(data, require_target=True).problems
    assert [(p.row, p.reason) for p in problems] == [(3, "the DON concentration is missing")]


def test_all_rows_bad_are_all_reported():
    rows = [["a", "x", "0.1", "0.1", "0.1", "0.1"], ["b", "", "", "", "", ""], ["c", "0.1", "0.1", "0.1", "0.1", "y"]]
    table = read_spectra(csv_text(header=["hsi_id", *BANDS], rows=rows).encode())
    assert table.n_rows == 3 and not table.scorable.any()
    assert [p.row for p in table.problems] == [1, 2, 3]
    assert "and 4 more band columns" in table.problems[1].reason


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("empty file", b"", "the file is empty"),
        ("whitespace only", b"  \n\n", "the file is empty"),
        ("header only", ("hsi_id," + ",".join(BANDS) + "\n").encode(), "no data rows"),
        ("one column", b"hsi_id\na\nb\n", "no band columns"),
        ("no numeric headers", b"name,colour\na,red\n", "no band columns"),
        ("duplicated band header", b"hsi_id,0,0\na,0.1,0.2\n", "the header names '0' more than once"),
    ],
)
def test_unusable_files_raise_one_clear_error(name, data, message):
    with pytest.raises(SpectraError) as error:
        read_spectra(data)
    assert message in str(error.value)


def test_training_requires_a_target_column():
    with pytest.raises(SpectraError, match="no 'vomitoxin_ppb' column"):
        read_spectra(good(targets=None, header=["hsi_id", *BANDS]), require_target=True)


def test_447_bands_read_but_do_not_match_a_448_band_model():
    bands = [str(b) for b in range(447)]
    table = read_spectra((",".join(bands) + "\n" + ",".join(["0.5"] * 447) + "\n").encode())
    assert len(table.band_names) == 447
    with pytest.raises(BandMismatchError) as error:
        table.bands_matrix([str(b) for b in range(448)])
    assert "missing '447'; extra none" in str(error.value)


def test_extra_bands_are_named():
    table = read_spectra(good())
    with pytest.raises(BandMismatchError, match="missing none; extra '3', '4'"):
        table.bands_matrix(["0", "1", "2"])


def test_shuffled_band_order_is_realigned_by_name():
    shuffled = ["3", "0", "4", "1", "2"]
    rows = [["a", *[str(SPECTRA[0][int(b)]) for b in shuffled]]]
    table = read_spectra(csv_text(header=["hsi_id", *shuffled], rows=rows).encode())
    np.testing.assert_allclose(table.bands_matrix(BANDS), [SPECTRA[0]])


def test_reads_from_path_and_file_object(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(good())
    assert read_spectra(path).n_rows == read_spectra(io.BytesIO(good())).n_rows == read_spectra(str(path)).n_rows == 3


def test_row_limit_is_enforced():
    with pytest.raises(SpectraError, match="the file has more than 2 rows; this app accepts at most 2"):
        read_spectra(good(), max_rows=2)
    assert read_spectra(good(), max_rows=3).n_rows == 3


def test_a_file_of_bands_only_keeps_its_rows_blank_lines_and_problems():
    # No id, lot or target column: the bands are read straight into one block and nothing else is left to read.
    rows = [[str(v) for v in spectrum] for spectrum in SPECTRA]
    rows[1][2] = "inf"
    data = csv_text(header=BANDS, rows=[rows[0], [""] * 5, rows[1], rows[2]]).encode()
    table = read_spectra(data)
    assert table.n_rows == 3 and table.ids == ["1", "2", "3"]
    assert [(p.row, p.column, p.value, p.reason) for p in table.problems] == [(2, "2", "inf", "not a finite number")]
    assert table.statuses()[0] == "ok" and table.statuses()[1] != "ok"
    assert any("1 empty rows were skipped" in w for w in table.warnings), table.warnings
    assert table.X.flags["C_CONTIGUOUS"]  # what the forest and the domain statistics read fastest
    np.testing.assert_array_equal(table.X[[0, 2]], [SPECTRA[0], SPECTRA[2]])
