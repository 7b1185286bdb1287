"""Results written batch by batch into a CSV or a Parquet file, which appears under its name only when complete."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from don_predictor.services.precision import export_frame
from don_predictor.services.results_csv import results_csv
from don_predictor.spectra.stream import is_parquet


def parquet_schema(table: pa.Table) -> pa.Schema:
    """The schema to write results under: a column empty in the first batch or in one partition (no lot, no verdict
    reason) would be typed null, and clash with the text it holds elsewhere, so it is text in all; no pandas
    metadata (its index and dtypes describe one batch, not the file)."""
    fields = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
    return pa.schema(fields).remove_metadata()


class ResultsWriter:
    """Appends each batch's results to a CSV or a Parquet file. The file appears under its name only when complete:
    it is written beside it and renamed at the end (a stopped run leaves no half file that looks finished)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.parquet = is_parquet(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = None if self.parquet else open(self.partial, "wb")  # noqa: SIM115 (closed in close/abort)
        self._writer: pq.ParquetWriter | None = None
        self._header: bytes | None = None

    def write(self, results: pd.DataFrame) -> None:
        results = export_frame(results)  # rounded as every saved results file is (ppb to the unit)
        if self.parquet:
            self._write_parquet(results)
            return
        content = results_csv(results)
        header = content[: content.index(b"\n") + 1]
        if self._header is None:
            self._header = header
            self._file.write(content)
        else:
            self._file.write(content[len(header) :])

    def _write_parquet(self, results: pd.DataFrame) -> None:
        if self._writer is None:
            schema = parquet_schema(pa.Table.from_pandas(results, preserve_index=False))
            self._writer = pq.ParquetWriter(self.partial, schema)
        table = pa.Table.from_pandas(results, schema=self._writer.schema, preserve_index=False)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()
        self.partial.replace(self.path)

    def abort(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            if self._file is not None:
                self._file.close()
        finally:
            self.partial.unlink(missing_ok=True)
