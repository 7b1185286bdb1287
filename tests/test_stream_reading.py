"""The one streaming reader (spectra.stream, spectra.encoding): a file read in batches, or in a cluster's partitions,
is read as the same file read whole, and the results' Parquet schema is the same in every batch and partition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from don_predictor.services.dask_engine import partitions
from don_predictor.services.results_writer import parquet_schema
from don_predictor.spectra.encoding import whole_text
from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.stream import batches
from don_predictor.spectra.table import SpectraError

BANDS = 20


def test_a_header_that_starts_with_a_tab_is_read_the_same_whole_and_streamed(tmp_path):
    """A tab-separated export with an unnamed first column: its header line starts with the delimiter."""
    rng = np.random.default_rng(1)
    lines = ["\t" + "\t".join(map(str, range(BANDS)))]
    lines += ["\t".join([f"r{i}", *(f"{v:.5f}" for v in rng.uniform(0.2, 0.8, BANDS))]) for i in range(30)]
    path = tmp_path / "tabs.tsv"
    path.write_text("\n".join(lines) + "\n")
    whole = read_spectra(path)
    assert whole.problems == [] and whole.ids[:2] == ["r0", "r1"]
    parts = list(batches(path, 600))
    assert len(parts) >= 2
    assert [i for p in parts for i in p.table.ids] == whole.ids
    assert all(p.table.problems == [] for p in parts)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_stream_as_they_read_whole(tmp_path, codec):
    text = "hsi_id,0,1,2\n" + "".join(f"é{i},0.1,0.2,0.{i % 9 + 1}\n" for i in range(60))
    path = tmp_path / "wide.csv"
    path.write_bytes(text.encode(codec))
    whole = read_spectra(path)
    parts = list(batches(path, 256))
    assert len(parts) >= 2
    assert [i for p in parts for i in p.table.ids] == whole.ids == [f"é{i}" for i in range(60)]
    assert np.array_equal(np.vstack([p.table.X for p in parts]), whole.X)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"PK\x03\x04rest", "zip archive"), (b"a,b\x00\x01\x02\x03,c\n", "binary data")],
)
def test_a_file_that_is_not_text_is_refused_by_both_readers_in_the_same_words(tmp_path, content, message):
    path = tmp_path / "not.csv"
    path.write_bytes(content)
    with pytest.raises(SpectraError, match=message) as whole:
        whole_text(content)
    with pytest.raises(SpectraError) as stream:
        list(batches(path))
    assert stream.value.problems == whole.value.problems


def test_the_dask_engine_refuses_utf16_and_says_what_a_binary_file_is(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_bytes("hsi_id,0,1\na,0.1,0.2\n".encode("utf-16"))
    with pytest.raises(SpectraError, match="UTF-16/32: save it as UTF-8, or score it with --engine local"):
        partitions(str(wide))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"a,b\x00\x01\x02\x03,c\n")
    with pytest.raises(SpectraError, match="binary data"):
        partitions(str(binary))


def test_a_results_column_empty_in_one_batch_is_text_in_every_batch():
    empty_reasons = pa.Table.from_pandas(pd.DataFrame({"status": ["ok"], "reason": [None]}), preserve_index=False)
    schema = parquet_schema(empty_reasons)
    assert schema.field("reason").type == pa.string()
    assert schema.field("status").type == empty_reasons.schema.field("status").type  # the others are kept
    assert schema.metadata is None  # pandas' metadata describes one batch, not the file
