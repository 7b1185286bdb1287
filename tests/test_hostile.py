"""Hostile and awkward input (issue 10): no silent wrong answer, no lost id, no traceback, bounded memory.

A catalogue of awkward spectra files, each with the exact outcome it must have (read, with these problems and
warnings; or refused with this message), read with every warning turned into an error so that no numpy warning
can reach a user's terminal. Then the same files through the command line, hostile backup zips, the bounded upload
caches, and the Streamlit pages.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import stat
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import CliResult, run_cli
from conftest import ROOT
from test_spectra import BANDS, SPECTRA, csv_text, good

from don_predictor.cli import main
from don_predictor.modeling.training import train_and_register
from don_predictor.scoring.frame import predict_table
from don_predictor.services.results_csv import results_csv
from don_predictor.spectra import reader
from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.table import SpectraError
from don_predictor.store.backup import BackupError, export_version, import_version
from don_predictor.store.registry import MANIFEST_CHECKSUM_KEY, Registry, seal_manifest

TEXT = csv_text()
REFERENCE = np.array(SPECTRA)


def text_with(**kw) -> str:
    return csv_text(**kw)


def quoted_commas(sep: str = ",") -> bytes:
    rows = [
        [i, *[f'"{str(v).replace(".", ",")}"' for v in s], t]
        for i, s, t in zip("abc", SPECTRA, ("120", "0", "9"), strict=True)
    ]
    return csv_text(rows=rows, sep=sep).encode()


def with_targets(*targets: str) -> bytes:
    rows = [[i, *map(str, s), t] for i, s, t in zip("abc", SPECTRA, targets, strict=True)]
    return csv_text(rows=rows).encode()


def with_cell(row: int, column: int, value: str, text: str = TEXT) -> bytes:
    lines = text.splitlines()
    cells = lines[row].split(",")
    cells[column] = value
    lines[row] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


def renamed_id(name: str) -> bytes:
    return csv_text(header=[name, *BANDS, "vomitoxin_ppb"]).encode()


LATIN1_0X85_HEADER = TEXT.replace("hsi_id", "Probe\x85Nr").encode("latin-1")
LATIN1_0X85_ID = TEXT.replace("a,", "a\x85b,", 1).encode("latin-1")
MIXED_BREAKS = TEXT.replace("\n", "\r\n", 1).replace("\n", "\r", 2)
LONG_FIELD_ROW = TEXT.replace(",120\n", ",120," + "x" * 200_000 + "\n")

# (name, bytes, expectations). Every case reads 3 rows of 5 bands unless it says otherwise. Keys: ids, id_column,
# output_id, X (compared with SPECTRA), target, problems [(row, column, reason start)], warnings [fragments]
# (without it: no warnings), extra (a callable given the table).
READABLE = [
    ("comma-delimited with quoted decimal commas", quoted_commas(), {"X": True}),
    ("semicolon-delimited with quoted decimal commas", quoted_commas(";"), {"X": True}),
    ("tab-delimited with quoted decimal commas", quoted_commas("\t"), {"X": True}),
    ("quoted decimal comma in the target", with_targets('"120,5"', "0", "9"), {"target": [120.5, 0, 9]}),
    (
        "quoted thousands separators in the target",
        with_targets('"1,234.5"', '"12,000"', "9"),
        {"target": [1234.5, 12000, 9]},
    ),
    (
        "ambiguous '1,200' target is flagged, never guessed",
        with_targets('"1,200"', "0", "9"),
        {"problems": [(1, "vomitoxin_ppb", "the DON concentration is ambiguous")], "target": [np.nan, 0, 9]},
    ),
    (
        "'1,500' among dotted decimals is a thousands separator, and warned as far out of range",
        with_cell(1, 1, '"1,500"', TEXT),
        {"warnings": ["1 rows have reflectance far outside"], "extra": lambda t: t.X[0, 0] == 1500},
    ),
    (
        "'1,500' in a column of whole numbers is flagged, never guessed",
        with_cell(3, 1, "1", with_cell(2, 1, "0", with_cell(1, 1, '"1,500"').decode()).decode()),
        {"problems": [(1, "0", "not a number: is ',' a decimal comma")]},
    ),
    ("UTF-16 LE with byte-order mark", b"\xff\xfe" + TEXT.encode("utf-16-le"), {"X": True}),
    ("UTF-16 BE with byte-order mark", b"\xfe\xff" + TEXT.encode("utf-16-be"), {"X": True}),
    ("UTF-16 LE without byte-order mark", TEXT.encode("utf-16-le"), {"X": True}),
    ("UTF-32 with byte-order mark", TEXT.encode("utf-32"), {"X": True}),
    ("UTF-8 BOM and Windows line endings", b"\xef\xbb\xbf" + TEXT.replace("\n", "\r\n").encode(), {"X": True}),
    ("latin-1 byte 0x85 in the id header", LATIN1_0X85_HEADER, {"id_column": "Probe\x85Nr", "X": True}),
    (  # read exactly, and flagged on its row: the control character is invisible beside "ab"
        "latin-1 byte 0x85 in an id",
        LATIN1_0X85_ID,
        {"ids": ["a\x85b", "b", "c"], "X": True, "problems": [(1, "hsi_id", "holds the hidden character \\u0085")]},
    ),
    (
        "U+2028 line separator in a UTF-8 id",
        TEXT.replace("a,", "a\u2028x,", 1).encode(),
        {"ids": ["a\u2028x", "b", "c"], "problems": [(1, "hsi_id", "holds the hidden character \\u2028")]},
    ),
    ("old Mac line endings (CR only)", TEXT.replace("\n", "\r").encode(), {"X": True}),
    ("mixed line endings", MIXED_BREAKS.encode(), {"X": True}),
    ("no line break after the last row", TEXT.rstrip("\n").encode(), {"X": True}),
    ("blank lines above the header", b"\n\n  \n" + TEXT.encode(), {"X": True}),
    (
        "a line of spaces between rows",
        TEXT.replace("\n", "\n   \n", 2).encode(),
        {"warnings": ["2 empty rows were skipped"], "X": True},
    ),
    (
        "spaces around values",
        csv_text(rows=[[i, *[f" {v} " for v in s], " 1 "] for i, s in zip("abc", SPECTRA, strict=True)]).encode(),
        {"X": True},
    ),
    ("spaces around header names", TEXT.replace("hsi_id,0,1", " hsi_id , 0 ,1 ", 1).encode(), {"X": True}),
    ("plus signs and exponents", TEXT.replace("0.41", "+4.1e-1").encode(), {"X": True}),
    ("a value that underflows (1e-400)", with_cell(1, 1, "1e-400"), {}),
    (
        "1e300 in a band: out of range, no overflow warning",
        with_cell(1, 1, "1e300"),
        {"warnings": ["1 rows have reflectance far outside"]},
    ),
    (
        "1e300 and -1e300 in one row: not flat, no overflow warning",
        with_cell(1, 2, "-1e300", with_cell(1, 1, "1e300").decode()),
        {"warnings": ["1 rows have reflectance far outside"]},
    ),
    ("id column named status", renamed_id("status"), {"output_id": "input_status", "warnings": ["'input_status'"]}),
    ("id column named rf_ppb", renamed_id("rf_ppb"), {"output_id": "input_rf_ppb", "warnings": ["'input_rf_ppb'"]}),
    (
        "id column named TF_Verdict",
        renamed_id("TF_Verdict"),
        {"output_id": "input_TF_Verdict", "warnings": ["results"]},
    ),
    (
        "id column named tf_minus_rf_ppb",
        renamed_id("tf_minus_rf_ppb"),
        {"output_id": "input_tf_minus_rf_ppb", "warnings": ["results"]},
    ),
    (
        "formula-looking id header",
        renamed_id("=cmd|' /C calc'!A0"),
        {"output_id": "'=cmd|' /C calc'!A0", "warnings": ["starts like a spreadsheet formula"]},
    ),
    ("formula-looking id header with @", renamed_id("@SUM(A1)"), {"output_id": "'@SUM(A1)", "warnings": ["formula"]}),
    ("formula-looking ids are read as they are", good(ids=("=1+1", "@A1", "-x")), {"ids": ["=1+1", "@A1", "-x"]}),
    ("quoted id holding the delimiter", good(ids=('"a,1"', "b", "c")), {"ids": ["a,1", "b", "c"], "X": True}),
    ("quoted id holding a doubled quote", good(ids=('"a""1"', "b", "c")), {"ids": ['a"1', "b", "c"], "X": True}),
    ("an id that reads like a missing value", good(ids=("NA", "b", "c")), {"ids": ["NA", "b", "c"]}),
    ("ids with leading zeros stay text", good(ids=("001", "002", "010")), {"ids": ["001", "002", "010"]}),
    ("an empty id falls back to the row number", good(ids=("a", "", "c")), {"ids": ["a", "2", "c"]}),
    ("a 100,000-character id", good(ids=("x" * 100_000, "b", "c")), {"extra": lambda t: len(t.ids[0]) == 100_000}),
    (
        "a 200,000-character id header",
        renamed_id("h" * 200_000),
        {"extra": lambda t: t.id_column == "h" * 200_000},
    ),
    (
        "a row with a 200,000-character extra field",
        LONG_FIELD_ROW.encode(),
        {"problems": [(1, "(whole row)", "the row has 8 fields but the header has 7")]},
    ),
    ("a 200,000-character band value", with_cell(2, 3, "0." + "5" * 200_000), {}),
    (
        "target header in capitals",
        TEXT.replace("vomitoxin_ppb", "VOMITOXIN_PPB").encode(),
        {"target": [120, 0, 5300.5]},
    ),
    ("control characters in a band cell", with_cell(1, 2, "\x01\x02"), {"problems": [(1, "1", "not a number")]}),
    ("a unicode minus sign is not a number", with_cell(1, 1, "\u22120.41"), {"problems": [(1, "0", "not a number")]}),
    ("-inf literal", with_cell(3, 2, "-inf"), {"problems": [(3, "1", "not a finite number")]}),
    ("reflectance a little below 0 is noise", with_cell(1, 1, "-0.05"), {}),
]


def renamed_bands(bands: list[str]) -> bytes:
    return csv_text(header=["hsi_id", *bands, "vomitoxin_ppb"]).encode()


READABLE += [
    ("band names 400 and 4.01e2 are two bands", renamed_bands(["400", "4.01e2", "402", "403", "404"]), {"X": True}),
    ("negative and fractional wavelengths", renamed_bands(["-1", "0.5", "1", "1.5", "2"]), {"X": True}),
]


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


UNTERMINATED_ID = ('hsi_id,0,1\n"unterminated,0.1,0.2\n' + "".join(f"r{i},0.1,0.2\n" for i in range(2000))).encode()

# (name, bytes, message fragment)
REFUSED = [
    ("bands 5 and 5.0", b"hsi_id,5,5.0,6\na,0.1,0.2,0.3\n", "the columns '5', '5.0' name the same band (5)"),
    ("bands 5 and 05", b"hsi_id,5,05\na,0.1,0.2\n", "the columns '5', '05' name the same band (5)"),
    ("bands 400 and 4e2", b"hsi_id,4e2,400\na,0.1,0.2\n", "the columns '4e2', '400' name the same band (400)"),
    ("bands 0 and -0", b"0,-0,1\n0.1,0.2,0.3\n", "the columns '0', '-0' name the same band"),
    ("two target columns", b"hsi_id,0,vomitoxin_ppb,VOMITOXIN_PPB\na,0.1,1,2\n", "all hold the target"),
    ("an unterminated quote in the first id", UNTERMINATED_ID, "row 1: a quoted value runs over several lines"),
    ("an unterminated quote in the last band", b'hsi_id,0,1\na,0.1,"0.2\nb,0.3,0.4\n', "row 1, column '1': a quoted"),
    ("an id split over two lines", b'hsi_id,0,1\na,0.1,0.2\n"b\nc",0.3,0.4\n', "row 2, column 'hsi_id'"),
    ("an Excel .xlsx workbook", zip_bytes(), "the file is a zip archive (an Excel .xlsx workbook is one)"),
    ("an Excel .xls workbook", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "an Excel .xls workbook"),
    ("a gzip-compressed CSV", gzip.compress(TEXT.encode()), "gzip-compressed: unpack it first"),
    ("a PDF", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "a PDF document"),
    ("a PNG image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "binary data (NUL bytes)"),
    ("UTF-16 cut in the middle of a character", b"\xff\xfe" + TEXT.encode("utf-16-le") + b"\x00", "not valid UTF-16"),
    ("only a byte-order mark", b"\xef\xbb\xbf", "the file is empty"),
    ("only line breaks", b"\r\n\n\r\n", "the file is empty"),
    ("a header of only delimiters", b",,,,\n1,2,3,4,5\n", "no band columns"),
    ("band names with units", b"hsi_id,400nm,401nm\na,0.1,0.2\n", "no band columns"),
    ("an HTML page", b"<!DOCTYPE html>\n<html><body>Not found</body></html>\n", "no band columns"),
    ("a JSON document", b'{"hsi_id": "a", "0": 0.1}\n', "no band columns"),
    ("NaN and inf as the only numeric-looking names", b"hsi_id,nan,inf\na,0.1,0.2\n", "no band columns"),
    ("a header after blank lines and nothing else", b"\n\nhsi_id,0,1\n\n", "no data rows"),
    ("rows of delimiters only", b"hsi_id;0;1\n;;\n;;\n", "no data rows"),
    (
        "one band named twice once spaces are stripped",
        b"hsi_id,0, 0\na,0.1,0.2\n",
        "the header names '0' more than once",
    ),
]


def strict_read(data: bytes, **kw):
    """read_spectra with every warning (numpy overflow, pandas, pyarrow) raised as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_spectra(data, **kw)


@pytest.mark.parametrize("name,data,expect", READABLE, ids=[c[0] for c in READABLE])
def test_awkward_files_are_read_exactly(name, data, expect):
    table = strict_read(data)
    assert table.n_rows == 3 and len(table.band_names) == 5
    assert table.ids == expect.get("ids", table.ids)
    assert len(table.ids) == 3
    if "id_column" in expect:
        assert table.id_column == expect["id_column"]
    assert table.output_id_column == expect.get("output_id", table.id_column)
    if expect.get("X"):
        np.testing.assert_allclose(table.X, REFERENCE)
    if "target" in expect:
        np.testing.assert_allclose(table.target, expect["target"])
    found = [(p.row, p.column, p.reason) for p in table.problems]
    wanted = expect.get("problems", [])
    assert len(found) == len(wanted), found
    for (row, column, reason), (want_row, want_column, want_reason) in zip(found, wanted, strict=True):
        assert (row, column) == (want_row, want_column) and reason.startswith(want_reason), (row, column, reason)
    fragments = expect.get("warnings", [])
    for fragment in fragments:
        assert any(fragment in w for w in table.warnings), table.warnings
    if not fragments:
        assert table.warnings == []
    if "extra" in expect:
        assert expect["extra"](table)


@pytest.mark.parametrize("name,data,message", REFUSED, ids=[c[0] for c in REFUSED])
def test_hostile_files_are_refused_with_one_plain_reason(name, data, message):
    with pytest.raises(SpectraError) as error:
        strict_read(data)
    assert message in str(error.value)
    for problem in error.value.problems:
        assert "\n" not in problem and "Traceback" not in problem and "field larger" not in problem
        assert len(problem) < 600


def test_catalogue_size():
    """Issue 10 asked for about 80 validation cases: these and test_spectra's catalogue together."""
    from test_spectra import READABLE_CASES

    assert len(READABLE) + len(REFUSED) + len(READABLE_CASES) + 6 >= 80


def test_two_names_for_one_band_never_replace_each_other():
    """The issue's case: a copy of band 200 named 5.0 silently replaced band 5."""
    header = ["hsi_id", *map(str, range(448)), "5.0"]
    row = ["a", *["0.5"] * 448, "0.9"]
    with pytest.raises(SpectraError, match=r"the columns '5', '5.0' name the same band \(5\): keep one"):
        read_spectra((",".join(header) + "\n" + ",".join(row) + "\n").encode())


def test_each_band_clash_is_one_problem():
    with pytest.raises(SpectraError) as error:
        read_spectra(b"hsi_id,1,1.0,2,2.0,3\na,0.1,0.2,0.3,0.4,0.5\n")
    assert len(error.value.problems) == 2 and "'2', '2.0'" in error.value.problems[1]


def test_quoted_decimal_commas_in_a_real_sized_file(real_data):
    """The dev data written comma-delimited with quoted decimal commas reads to the same numbers."""
    frame = pd.read_csv(real_data).head(40)
    text = frame.to_csv(index=False, float_format="%.6f", decimal=",", quoting=1)
    table, reference = (
        read_spectra(text.encode()),
        read_spectra(frame.to_csv(index=False, float_format="%.6f").encode()),
    )
    assert table.ids == reference.ids and table.problems == []
    np.testing.assert_allclose(table.X, reference.X)
    np.testing.assert_allclose(table.target, reference.target)


# --- row limit: counted while streaming, before any value is parsed -----------------------------------------------


def test_too_many_rows_is_refused_before_the_file_is_parsed(monkeypatch):
    rows = "".join(f"s{i},0.1,0.2,0.3\n" for i in range(100_001))
    data = ("hsi_id,0,1,2\n" + rows).encode()

    def never(*args, **kwargs):
        raise AssertionError("the whole file was parsed")

    monkeypatch.setattr(reader, "_parse", never)
    started = time.perf_counter()
    with pytest.raises(SpectraError, match="more than 100,000 rows; this app accepts at most 100,000"):
        read_spectra(data, max_rows=100_000)
    assert time.perf_counter() - started < 5


def test_row_limit_counts_rows_not_line_breaks():
    """Blank lines and CRLF breaks do not count: a file of exactly max_rows rows passes."""
    data = TEXT.replace("\n", "\r\n\r\n").encode()
    assert read_spectra(data, max_rows=3).n_rows == 3
    with pytest.raises(SpectraError, match="more than 2 rows"):
        read_spectra(data, max_rows=2)


def test_row_limit_with_latin1_and_utf16():
    for data in (LATIN1_0X85_ID, TEXT.encode("utf-16")):
        assert read_spectra(data, max_rows=3).n_rows == 3
        with pytest.raises(SpectraError, match="more than 2 rows"):
            read_spectra(data, max_rows=2)


# --- results: every id kept under a name of its own ----------------------------------------------------------------


@pytest.fixture(scope="module")
def rf_registry(tmp_path_factory, demo_table, demo_calibration) -> Registry:
    """One small active RF version with intervals (no TensorFlow)."""
    registry = Registry(tmp_path_factory.mktemp("hostile_models"))
    data = demo_calibration.read_bytes()
    train_and_register(
        demo_table, "rf", registry, data_bytes=data, data_name="demo", params={"n_estimators": 10}, cv_folds=3
    )
    return registry


def upload_with_id_header(demo_upload: Path, name: str) -> bytes:
    lines = demo_upload.read_text().splitlines()
    return ("\n".join([name + lines[0][len("hsi_id") :], *lines[1:]]) + "\n").encode()


@pytest.mark.parametrize("name", ["status", "rf_ppb", "rf_verdict", "Status"])
def test_an_id_column_named_like_a_results_column_keeps_its_ids(rf_registry, demo_upload, name):
    table = read_spectra(upload_with_id_header(demo_upload, name))
    results = predict_table(table, {"rf": rf_registry.load("rf")})
    renamed = f"input_{name}"
    assert table.output_id_column == renamed and list(results.columns[:2]) == [renamed, "status"]
    assert results[renamed].tolist() == table.ids and results[renamed].iloc[0] == "upload_0000"
    assert (results["status"] == "ok").all() and results["rf_ppb"].notna().all()
    written = pd.read_csv(io.BytesIO(results_csv(results)))
    assert written[renamed].tolist() == table.ids and len(set(written.columns)) == len(written.columns)


def test_history_stores_the_ids_of_a_status_column(rf_registry, demo_upload, tmp_path):
    from don_predictor.store.history import RunInfo, list_runs, record_run, run_rows

    table = read_spectra(upload_with_id_header(demo_upload, "status"))
    results = predict_table(table, {"rf": rf_registry.load("rf")})
    db = tmp_path / "history.sqlite"
    record_run(db, results, table.output_id_column, RunInfo("cli", {"rf": "v"}, "x.csv", "0" * 64, "fda-1ppm", None))
    rows = run_rows(db, list_runs(db).iloc[0]["run_id"])
    assert rows["sample_id"].tolist() == table.ids and rows["status"].eq("ok").all()


def test_a_formula_header_is_neutralised_in_the_results_csv(rf_registry, demo_upload):
    table = read_spectra(upload_with_id_header(demo_upload, "=cmd|' /C calc'!A0"))
    written = results_csv(predict_table(table, {"rf": rf_registry.load("rf")}))
    assert written.startswith(b"'=cmd|' /C calc'!A0,status,")
    assert not any(cell.startswith((b"=", b"+", b"@")) for line in written.splitlines() for cell in line.split(b","))


def test_no_overflow_warning_when_scoring_1e300(rf_registry, demo_upload):
    lines = demo_upload.read_text().splitlines()
    cells = lines[1].split(",")
    cells[1:] = ["1e300", "-1e300"] * 224
    lines[1] = ",".join(cells)
    table = read_spectra(("\n".join(lines) + "\n").encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = predict_table(table, {"rf": rf_registry.load("rf")})
    assert results["status"].iloc[0] == "ok" and results["rf_in_domain"].iloc[0] == False  # noqa: E712


# --- the command line ---------------------------------------------------------------------------------------------


def assert_plain(result: CliResult) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert "Warning" not in result.stderr, result.stderr
    for line in result.stderr.splitlines():
        assert line.startswith(("error: ", "warning: ")), line


@pytest.mark.parametrize("name,data,message", REFUSED, ids=[c[0] for c in REFUSED])
def test_cli_refuses_each_hostile_file_with_exit_2_and_plain_lines(rf_registry, tmp_path, name, data, message):
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    code = main(
        ["predict", "--data", str(path), "--out", str(tmp_path / "o.csv"), "--models-dir", str(rf_registry.root)]
    )
    assert code == 2 and not (tmp_path / "o.csv").exists()


def test_cli_unterminated_quote_in_a_large_file_is_exit_2(rf_registry, tmp_path):
    path = tmp_path / "unterminated.csv"
    rows = "".join(f"r{i}," + ",".join(["0.5"] * 448) + "\n" for i in range(3000))
    path.write_text(
        "hsi_id," + ",".join(map(str, range(448))) + '\n"unterminated,' + ",".join(["0.5"] * 448) + "\n" + rows
    )
    result = run_cli("predict", "--data", path, "--out", tmp_path / "o.csv", "--models-dir", rf_registry.root)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: row 1: a quoted value runs over several lines, so the rows after it would be lost; most likely a "
        'quote (") is never closed: close it or remove it'
    ]
    assert_plain(result)


def test_cli_status_id_column_and_1e300_values(rf_registry, demo_upload, tmp_path):
    data = upload_with_id_header(demo_upload, "status").decode().splitlines()
    cells = data[1].split(",")
    cells[1:3] = ["1e300", "-1e300"]
    data[1] = ",".join(cells)
    path, out = tmp_path / "status.csv", tmp_path / "out.csv"
    path.write_text("\n".join(data) + "\n")
    result = run_cli("predict", "--data", path, "--out", out, "--models-dir", rf_registry.root, "--no-history")
    assert result.returncode == 0, result.stderr
    assert_plain(result)
    assert "warning: the id column 'status' is also the name of a results column" in result.stderr
    assert "RuntimeWarning" not in result.stderr and "overflow" not in result.stderr
    written = pd.read_csv(out)
    assert list(written.columns[:2]) == ["input_status", "status"]
    assert written["input_status"].iloc[0] == "upload_0000" and written["status"].eq("ok").all()


def test_cli_info_into_a_closed_pipe_is_quiet(rf_registry):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone, as `| head` does
    try:
        result = subprocess.run(
            [sys.executable, "-m", "don_predictor", "info", "--models-dir", str(rf_registry.root)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert result.stderr == "" and result.returncode == 1


def test_cli_info_piped_into_head_says_nothing(rf_registry):
    if not Path("/usr/bin/head").exists() and not Path("/bin/head").exists():
        pytest.skip("no head")
    models = rf_registry.root
    command = f"{sys.executable} -m don_predictor info --models-dir {models} | head -n 1"
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.startswith("models directory:") and result.stderr == ""


def test_cli_unwritable_output_is_exit_2(rf_registry, demo_upload, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("predict", "--data", demo_upload, "--out", blocker / "o.csv", "--models-dir", rf_registry.root)
    assert result.returncode == 2 and result.stderr.strip().endswith("a file is in the way of the folder to write into")
    result = run_cli("predict", "--data", demo_upload, "--out", tmp_path, "--models-dir", rf_registry.root)
    assert result.returncode == 2 and "is a directory" in result.stderr
    assert_plain(result)


def test_cli_data_that_is_a_directory_is_exit_2(tmp_path):
    result = run_cli("predict", "--data", tmp_path, "--out", tmp_path / "o.csv", "--models-dir", tmp_path)
    assert result.returncode == 2 and "is a directory, not a CSV file" in result.stderr


# --- hostile backup zips ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rf_backup(rf_registry) -> tuple[str, bytes]:
    version = rf_registry.active_version("rf")
    return version, export_version(rf_registry, "rf", version)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def build(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def vouched(files: dict[str, bytes], prefix: str, name: str, content: bytes) -> dict[str, bytes]:
    """files with name replaced by content and a manifest whose checksum vouches for it."""
    files = dict(files)
    files[f"{prefix}/{name}"] = content
    manifest = json.loads(files[f"{prefix}/manifest.json"])
    manifest["files"][name] = hashlib.sha256(content).hexdigest()
    files[f"{prefix}/manifest.json"] = json.dumps(seal_manifest(manifest)).encode()  # anyone can recompute a seal
    return files


def with_manifest(files: dict[str, bytes], prefix: str, change) -> dict[str, bytes]:
    files = dict(files)
    manifest = json.loads(files[f"{prefix}/manifest.json"])
    change(manifest)
    files[f"{prefix}/manifest.json"] = json.dumps(seal_manifest(manifest)).encode()
    return files


def flip_stored_byte(data: bytes, name: str) -> bytes:
    """A stored (uncompressed) member with one byte changed after its CRC was written: a bad CRC."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    raw = bytearray(data)
    name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    raw[info.header_offset + 30 + name_length + extra_length + 5] ^= 0xFF
    return bytes(raw)


def declare_size(data: bytes, name: str, size: int) -> bytes:
    """The zip with name's uncompressed size declared as size in its local and central headers (a lie)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    raw = bytearray(data)
    raw[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<I", size)
    central = raw.find(b"PK\x01\x02")
    while central != -1:
        length = struct.unpack("<H", raw[central + 28 : central + 30])[0]
        if raw[central + 46 : central + 46 + length].decode() == name:
            raw[central + 24 : central + 28] = struct.pack("<I", size)
        central = raw.find(b"PK\x01\x02", central + 4)
    return bytes(raw)


class Marker:
    path = ""

    def __reduce__(self):
        return (open, (self.path, "w"))


def hostile_zips(version: str, data: bytes, marker: Path) -> list[tuple[str, bytes, str]]:
    prefix = f"rf/{version}"
    files = members(data)
    Marker.path = str(marker)
    payload = pickle.dumps(Marker())
    fake_tf = {
        "tf/v1/manifest.json": b"",
        "tf/v1/backend.json": json.dumps({"backend": "tf", "params": {}, "band_names": ["0"]}).encode(),
    }
    tf_manifest = {
        "backend": "tf",
        "version": "v1",
        "created": "2026-01-01T00:00:00+00:00",
        "band_names": ["0"],
        "files": {"backend.json": hashlib.sha256(fake_tf["tf/v1/backend.json"]).hexdigest()},
    }
    fake_tf["tf/v1/manifest.json"] = json.dumps(tf_manifest).encode()

    def tf_with_model(content: bytes) -> bytes:
        return build(vouched(fake_tf, "tf/v1", "model.keras", content))

    too_big = build({**files, f"{prefix}/trust.npz": bytes(70 * 1024**2)})
    return [
        ("a bad CRC", flip_stored_byte(build(files, zipfile.ZIP_STORED), f"{prefix}/backend.json"), "Bad CRC-32"),
        ("a manifest of 200,000 nested [", build({**files, f"{prefix}/manifest.json": b"[" * 200_000}), "nested too"),
        ("a manifest that is a JSON list", build({**files, f"{prefix}/manifest.json": b"[1, 2]"}), "a JSON list"),
        ("a manifest that is a JSON string", build({**files, f"{prefix}/manifest.json": b'"x"'}), "a JSON string"),
        ("an empty manifest", build({**files, f"{prefix}/manifest.json": b""}), "manifest.json is not valid JSON"),
        (
            "a manifest of 8 MB of spaces",
            build({**files, f"{prefix}/manifest.json": b" " * (8 * 1024**2) + b"{}"}),
            "manifest.json unpacks to 8.0 MB; a model's manifest.json is at most 1.0 MB",
        ),
        ("a 70 MB zero-filled member", too_big, "trust.npz unpacks to 70.0 MB; a model's trust.npz is at most 64.0 MB"),
        (
            "a member larger than its zip entry declares",
            declare_size(build(files), f"{prefix}/trust.npz", 1000),
            "trust.npz",
        ),
        (
            "a pickle named model.keras",
            tf_with_model(payload),
            "model.keras is not a Keras archive: it is a Python pickle",
        ),
        ("an HDF5 file named model.keras", tf_with_model(b"\x89HDF\r\n\x1a\n" + bytes(64)), "legacy Keras format"),
        ("an empty model.keras", tf_with_model(b""), "model.keras is not a Keras archive: it is empty"),
        ("a text file named trust.npz", build(vouched(files, prefix, "trust.npz", b"hello")), "not a numpy .npz"),
        (
            "a pickle named model.skops",
            build(vouched(files, prefix, "model.skops", payload)),
            "model.skops is not a skops file: it is a Python pickle",
        ),
        (
            "a zip bomb inside trust.npz",
            build(vouched(files, prefix, "trust.npz", build({"a.npy": bytes(40 * 1024**2)}))),
            "trust.npz would unpack to",
        ),
        ("the same file twice", duplicated_member(version, data), "holds this file twice"),
        (
            "checksums that are not SHA-256",
            build(with_manifest(files, prefix, lambda m: m["files"].update({"trust.npz": "abc"}))),
            "'files' must map each file name to its SHA-256",
        ),
        (
            "a created date that is a number",
            build(with_manifest(files, prefix, lambda m: m.update(created=12))),
            "'created' must be a date",
        ),
        (
            "band names that are not a list",
            build(with_manifest(files, prefix, lambda m: m.update(band_names="0,1,2"))),
            "'band_names' must be a list",
        ),
        (
            "band names that differ from the model's",
            build(with_manifest(files, prefix, lambda m: m.update(band_names=["x"]))),
            "band_names differ from the model's",
        ),
        (
            "a manifest edited without its own checksum",
            build({**files, f"{prefix}/manifest.json": edited_manifest(files[f"{prefix}/manifest.json"])}),
            "manifest.json was changed after it was saved",
        ),
        (
            "cv_metrics that is a list",
            build(with_manifest(files, prefix, lambda m: m.update(cv_metrics=[1]))),
            "must be",
        ),
        (
            "a file name with a space",
            build({**files, f"{prefix}/my model.json": b"{}"}),
            "not the name of a model file",
        ),
        ("a backslash path", build({**files, f"{prefix}\\..\\x.json": b"{}"}), "unexpected path"),
        ("an encrypted-looking member", encrypted(build(files), f"{prefix}/backend.json"), "backend.json"),
    ]


def edited_manifest(content: bytes) -> bytes:
    manifest = json.loads(content)
    manifest["n_rows"] = 1_000_000  # a claim edited by hand, the manifest's own checksum left as it was
    return json.dumps(manifest).encode()


def encrypted(data: bytes, name: str) -> bytes:
    """The zip with name's 'encrypted' flag set: reading it needs a password."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    raw = bytearray(data)
    raw[info.header_offset + 6] |= 1
    central = raw.find(b"PK\x01\x02")
    while central != -1:
        length = struct.unpack("<H", raw[central + 28 : central + 30])[0]
        if raw[central + 46 : central + 46 + length].decode() == name:
            raw[central + 8] |= 1
        central = raw.find(b"PK\x01\x02", central + 4)
    return bytes(raw)


def duplicated_member(version: str, data: bytes) -> bytes:
    files = members(data)
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(out, "w") as archive:
            for name, content in files.items():
                archive.writestr(name, content)
            archive.writestr(f"rf/{version}/backend.json", files[f"rf/{version}/backend.json"])
    return out.getvalue()


def test_hostile_backups_are_refused_plainly_without_writing_into_the_registry(rf_backup, tmp_path, monkeypatch):
    monkeypatch.setattr("don_predictor.store.backup.MAX_LOADED_BYTES", 32 * 1024**2)  # a small zip bomb is enough
    version, data = rf_backup
    marker = tmp_path / "pwned"
    cases = hostile_zips(version, data, marker)
    registry = Registry(tmp_path / "models")
    for name, zipped, message in cases:
        with pytest.raises(BackupError) as error:
            import_version(registry, zipped)
        text = str(error.value)
        assert message in text, (name, text)
        assert "\n" not in text and str(tmp_path) not in text and tempfile.gettempdir() + "/" not in text, (name, text)
        assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("*")), name
    assert not marker.exists()
    assert len(cases) >= 20


def test_a_hostile_member_is_never_staged_inside_the_registry(rf_backup, tmp_path, monkeypatch):
    """While unpacking, files go to a temporary directory outside the registry."""
    import don_predictor.store.backup as backup

    _, data = rf_backup
    seen = []
    real = backup._unpack

    def spy(archive, info, path):
        seen.append(path)
        return real(archive, info, path)

    monkeypatch.setattr(backup, "_unpack", spy)
    registry = Registry(tmp_path / "models")
    import_version(registry, data)
    assert seen and all(tmp_path / "models" not in path.parents for path in seen)
    assert all(not path.exists() for path in seen)  # the staging directory is gone


def test_imported_versions_get_the_modes_of_trained_ones(rf_registry, rf_backup, tmp_path):
    version, data = rf_backup
    imported = import_version(Registry(tmp_path), data)
    trained = rf_registry.get("rf", version)
    assert stat.filemode(imported.path.stat().st_mode) == stat.filemode(trained.path.stat().st_mode)
    for path in trained.path.iterdir():
        assert (imported.path / path.name).stat().st_mode == path.stat().st_mode, path.name


def test_cli_import_of_hostile_zips_is_exit_2_with_one_line(rf_backup, tmp_path):
    version, data = rf_backup
    files = members(data)
    path = tmp_path / "bad.zip"
    for zipped in (
        build({**files, f"rf/{version}/manifest.json": b"[" * 200_000}),
        flip_stored_byte(build(files, zipfile.ZIP_STORED), f"rf/{version}/backend.json"),
    ):
        path.write_bytes(zipped)
        result = run_cli("import", "--file", path, "--models-dir", tmp_path / "models")
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert_plain(result)


# --- bounded upload caches ----------------------------------------------------------------------------------------


def test_bounded_cache_keeps_to_its_bytes_and_entries():
    from don_predictor.ui.bounded_cache import BoundedCache

    cache = BoundedCache(max_bytes=100, max_entries=3)
    calls = []

    def value(key, size):
        return cache.get(key, lambda: calls.append(key) or (key, size), lambda v: v[1])

    value("a", 40), value("b", 40)
    assert value("a", 40) == ("a", 40) and calls == ["a", "b"]  # a hit: the same object, not computed again
    value("c", 40)  # over 100 bytes: the least recently used ("b") goes
    assert cache.nbytes == 80 and len(cache) == 2
    value("b", 40)
    assert calls == ["a", "b", "c", "b"]
    value("huge", 1000)  # bigger than the whole cache: returned, never kept
    assert cache.nbytes <= 100 and "huge" in calls
    for key in "defg":
        value(key, 1)
    assert len(cache) == 3


def test_read_upload_is_cached_by_content_and_bounded(monkeypatch):
    from don_predictor.ui import upload_cache as models
    from don_predictor.ui.bounded_cache import BoundedCache

    cache = BoundedCache(max_bytes=10**9, max_entries=2)
    monkeypatch.setattr(models, "READ_CACHE", cache)
    first = models.read_upload(good())
    assert models.read_upload(good()) is first  # no copy per page run
    assert not first.X.flags.writeable and not first.target.flags.writeable  # shared, so never written into
    with pytest.raises(SpectraError, match="the file is empty"):
        models.read_upload(b"")
    with pytest.raises(SpectraError, match="the file is empty"):  # the refusal is remembered too
        models.read_upload(b"")
    models.read_upload(good(sep=";"))
    assert len(cache) == 2 and models.table_bytes(first) >= first.X.nbytes


def test_a_backup_from_before_sealed_manifests_imports_and_loads(rf_registry, rf_backup, tmp_path, demo_table):
    version, data = rf_backup
    files = members(data)
    name = f"rf/{version}/manifest.json"
    manifest = json.loads(files[name])
    del manifest[MANIFEST_CHECKSUM_KEY]
    files[name] = json.dumps(manifest).encode()
    registry = Registry(tmp_path)
    import_version(registry, build(files), activate=True)
    model = registry.load("rf")  # verify() needs the manifest's own checksum: the import added it
    np.testing.assert_array_equal(model.predict(demo_table.X[:5]), rf_registry.load("rf").predict(demo_table.X[:5]))
