"""Batch scoring on a Dask cluster: a file too big for one machine, scored partition by partition by many workers.

The input (a CSV or Parquet file, a local path or any fsspec URL: s3://, gs://, abfs://, http://...) is cut into
partitions: CSV byte ranges that end at line breaks, or Parquet row groups. Each worker reads its partition and
scores it with the same functions as the local engine (spectra.stream.read_block, scoring.pipeline.screen), with
the models loaded once per worker process from the registry (which the workers must see at the same path: shared
storage).
The results are written as one Parquet file per partition, in input order, plus `_summary.json`.

Only the client and the workers need this package. The scheduler unpickles the task graph (distributed since
2023.4), so the graph holds nothing of don_predictor: each task is `operator.call` of a function that a worker
rebuilt with `pickle.loads` (a task of its own), with plain values (dicts, numbers, strings) as arguments.

Row numbers stay the file's own: each partition is scored and, in a file with an id column, written at once; once
every partition's row count is known, row problems are reported with the file's row numbers, and in a file without
an id column (its ids are row numbers) the results kept on the workers are written with their offsets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import operator
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import fsspec.utils
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from don_predictor import tracing
from don_predictor.modeling.backends import Backend
from don_predictor.scoring.frame import results_frame
from don_predictor.scoring.pipeline import screen
from don_predictor.services.batch import Summary
from don_predictor.services.precision import export_frame
from don_predictor.services.results_writer import parquet_schema
from don_predictor.spectra.encoding import codec_to_transcode, utf8_bom_length
from don_predictor.spectra.header import NOT_BLANK, header_line
from don_predictor.spectra.stream import Batch, is_parquet, parquet_block, read_block
from don_predictor.spectra.table import RowProblem, SpectraError
from don_predictor.store.registry import Registry
from don_predictor.trust.screening import Risk

PARTITION_BYTES = 64 << 20
WORKER_TIMEOUT_S = 60.0  # DON_DASK_WORKER_TIMEOUT
SUMMARY_FILE = "_summary.json"
LISTED_PROBLEMS = 1000  # row problems kept in the summary file (all are reported on the command line)


@dataclass(frozen=True)
class Partition:
    """What one task reads: a byte range of a CSV (whole lines) or one row group of a Parquet file."""

    index: int
    url: str
    offset: int = 0  # CSV: first byte; Parquet: unused
    length: int = 0  # CSV: bytes
    row_group: int = -1  # Parquet: the row group
    header: bytes = b""  # CSV: the header line, put above every block but the first


@dataclass
class Scored:
    """A partition's results with what the client needs to know about it."""

    results: pd.DataFrame
    summary: Summary
    problems: list[RowProblem]
    no_id_column: bool


class DaskSetupError(ValueError):
    """The cluster cannot run the job: no scheduler, no worker, or workers without this package (bad input, exit 2)."""


@dataclass
class DaskSummary:
    rows: int = 0
    scored: int = 0
    partitions: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)
    summary_path: str = ""


# --- partitions ----------------------------------------------------------------------------------------------------


def partitions(url: str, partition_bytes: int = PARTITION_BYTES) -> list[Partition]:
    """The partitions of a CSV or Parquet file (or of a folder or glob of Parquet files)."""
    if is_parquet(url) or _is_parquet_folder(url):
        return _parquet_partitions(url)
    fs, path = fsspec.core.url_to_fs(url)
    size = fs.size(path)
    with fs.open(path, "rb") as stream:
        head = stream.read(min(size, 1 << 20))
    if codec_to_transcode(head) is not None:  # byte ranges of UTF-16/32 text would not start on a character
        raise SpectraError(
            "the Dask engine reads CSV files in UTF-8 or latin-1; this one is UTF-16/32: save it as UTF-8, "
            "or score it with --engine local"
        )
    header = header_line(head, utf8_bom_length(head))
    if header is None or (size <= len(head) and not NOT_BLANK.search(head, header[1])):
        return [Partition(0, url, 0, size)]  # one partition: read_spectra says what is wrong with it
    line, _ = header
    count = max(1, -(-size // partition_bytes))
    step = -(-size // count)
    return [Partition(i, url, i * step, step, header=line if i else b"") for i in range(count)]


def _is_parquet_folder(url: str) -> bool:
    fs, path = fsspec.core.url_to_fs(url)
    return fs.isdir(path)


def _parquet_partitions(url: str) -> list[Partition]:
    fs, path = fsspec.core.url_to_fs(url)
    if fs.isdir(path):
        files = sorted(f for f in fs.find(path) if is_parquet(f))
    else:
        files = sorted(fs.glob(path)) if any(c in path for c in "*?[") else [path]
    if not files:
        raise SpectraError(f"{url}: no Parquet files")
    found = []
    for file in files:
        with fs.open(file, "rb") as stream:
            groups = pq.ParquetFile(stream).metadata.num_row_groups
        full = fs.unstrip_protocol(file)
        found += [Partition(len(found) + g, full, row_group=g) for g in range(max(groups, 1))]
    return [dataclasses.replace(p, index=i) for i, p in enumerate(found)]


def _read_partition(part: Partition) -> tuple[bytes, bytes]:
    """(header, block of CSV text) for one partition."""
    with fsspec.open(part.url, "rb") as stream:
        if part.row_group >= 0:
            parquet = pq.ParquetFile(stream)
            if parquet.metadata.num_row_groups == 0:
                return parquet_block(parquet.schema_arrow.empty_table())
            return parquet_block(parquet.read_row_group(part.row_group))
        # Whole lines only: a range starting mid-line begins after the next line break, and ends at the line
        # break after its end (fsspec's read_block, as dask.dataframe.read_csv reads).
        block = fsspec.utils.read_block(stream, part.offset, part.length, delimiter=b"\n")
    return part.header, block


# --- on the workers ------------------------------------------------------------------------------------------------

_models: dict[tuple[str, str, str], Backend] = {}
_models_lock = threading.Lock()


def single_thread(backend: str) -> dict[str, int]:
    """The setting that scores a backend's model on one thread (the forest's n_jobs; the others have one)."""
    return {"n_jobs": 1} if backend == "rf" else {}


def worker_models(models_dir: str, versions: dict[str, str]) -> dict[str, Backend]:
    """The models, loaded once per worker process (a task after the first finds them here)."""
    with _models_lock:
        for backend, version in versions.items():
            key = (models_dir, backend, version)
            if key not in _models:
                # One scoring thread per model: the cluster already runs one task per core.
                _models[key] = Registry(models_dir).load(backend, version, **single_thread(backend))
        return {backend: _models[(models_dir, backend, version)] for backend, version in versions.items()}


def score_partition(
    part: dict,
    url: str,
    models_dir: str,
    versions: dict[str, str],
    limit_ppb: float,
    risk: tuple[float, float],
    trace_parent: dict[str, str] | None = None,
) -> Scored | None:
    """Read, validate and score one partition (row numbers counted from the partition's first row). With an id
    column its results are written to `url` at once; without one (ids are row numbers, which need the rows before
    it) they wait on the worker for write_partition. `part` and `risk` come as plain values (see the module's
    docstring): a Partition's fields, (false-compliant, false-suspect) rates. `trace_parent`: the client's trace
    context (tracing.carrier()), so the partition's span joins the batch's trace."""
    part, risk = Partition(**part), Risk(*risk)
    tracing.setup_tracing()  # once per worker process, from the worker's own OTEL_* environment
    try:
        with tracing.span("batch.partition", parent=trace_parent, partition=part.index, worker=_worker_name()) as span:
            header, block = _read_partition(part)
            if part.index > 0 and not NOT_BLANK.search(block):  # a range that held no line of its own
                span.set_attribute("rows", 0)
                return None
            table = read_block(header, block, 0)
            span.set_attributes({"rows": table.n_rows, "backends": ",".join(versions)})
            screened = screen(table, worker_models(models_dir, versions), limit_ppb, risk, versions=versions)
            results = results_frame(screened.run, screened.decisions, measured=True)
            summary = Summary()
            summary.add(Batch(0, table, 0), screened, keep_rows=0)
            span.set_attribute("scored", summary.scored)
            no_id = table.id_column is None
            if not no_id:
                _write_parquet(results, url)
            return Scored(results if no_id else None, summary, list(table.problems), no_id)
    finally:
        tracing.flush()  # a worker may be stopped without its exit handlers: its spans leave with its task


def _worker_name() -> str | None:
    """The Dask worker's name (its place in the cluster, for the trace viewer), None outside a worker."""
    from distributed import get_worker

    try:
        return str(get_worker().name)
    except ValueError:
        return None


def summary_of(scored: Scored | None) -> tuple[Summary, list[RowProblem], bool] | None:
    return None if scored is None else (scored.summary, scored.problems, scored.no_id_column)


def write_partition(scored: Scored | None, offset: int, url: str) -> str | None:
    """Write a partition's results kept on its worker, with row-number ids counted from the file's first row; the
    url of a partition written when it was scored."""
    if scored is None:
        return None
    if scored.results is not None:
        results = scored.results.copy()
        results[results.columns[0]] = [str(offset + i + 1) for i in range(len(results))]
        _write_parquet(results, url)
    return url


def _write_parquet(results: pd.DataFrame, url: str) -> None:
    table = pa.Table.from_pandas(export_frame(results), preserve_index=False)  # rounded as the local engine's
    with fsspec.open(url, "wb") as stream:
        pq.write_table(table.cast(parquet_schema(table)), stream)


# --- on the client -------------------------------------------------------------------------------------------------


def connect(scheduler: str | None = None, workers: int | None = None):
    """A client of the scheduler at `scheduler`, else of a local cluster of `workers` processes (one thread each)."""
    from distributed import Client, LocalCluster

    from don_predictor.modeling.backends.base import available_cores

    # The cluster's own log lines (workers starting, stopping) are not the user's business on the command line.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler:
        try:
            return Client(scheduler)
        except OSError as error:  # refused, or no answer within distributed's connect timeout
            raise DaskSetupError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    if workers is not None and workers < 1:
        raise DaskSetupError(f"--workers must be at least 1, got {workers}")
    count = workers or available_cores()
    cluster = LocalCluster(
        n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    client = Client(cluster)
    client.wait_for_workers(count, timeout=120)  # every local worker takes partitions from the first one on
    return client


def score_on_dask(
    source: str,
    out: str,
    models_dir: str | Path,
    versions: dict[str, str],
    limit_ppb: float,
    risk: Risk,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    client=None,
    partition_bytes: int = PARTITION_BYTES,
    worker_timeout: float = WORKER_TIMEOUT_S,
    say: Callable[[str], None] = lambda line: None,
) -> DaskSummary:
    """Score `source` on a Dask cluster into the folder `out` (part-00000.parquet, ... and _summary.json).

    Pass a `client`, or a `scheduler` address, or neither for a local cluster of `workers` processes. With no
    worker yet, `say` tells the user it waits, for `worker_timeout` seconds at most (then DaskSetupError).
    """
    started = time.perf_counter()
    own_client = client is None
    client = client or connect(scheduler, workers)
    try:
        with tracing.span(
            "batch.dask",
            backends=",".join(versions),
            versions=",".join(f"{b}:{v}" for b, v in versions.items()),
            limit_ppb=limit_ppb,
        ) as span:
            _wait_for_workers(client, worker_timeout, say)
            span.set_attribute("workers", len(client.nthreads()))
            summary = _score(
                client,
                source,
                out,
                str(Path(models_dir).resolve()),
                versions,
                limit_ppb,
                risk,
                partition_bytes,
                started,
            )
            span.set_attributes({"rows": summary.rows, "scored": summary.scored, "partitions": summary.partitions})
            return summary
    finally:
        if own_client:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()


def _wait_for_workers(client, timeout: float, say: Callable[[str], None]) -> None:
    """A scheduler without workers accepts the tasks and runs none: say so, and give up after `timeout`."""
    if client.nthreads():
        return
    address = client.scheduler.address
    say(f"waiting for a Dask worker to join the scheduler at {address} (up to {timeout:g} s: DON_DASK_WORKER_TIMEOUT)")
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise DaskSetupError(
            f"no Dask worker joined the scheduler at {address} in {timeout:g} s: start workers "
            f"(dask worker {address}, with this project's requirements and don_predictor installed) or raise "
            "DON_DASK_WORKER_TIMEOUT"
        ) from None


def _missing_on_workers(error: ModuleNotFoundError) -> DaskSetupError:
    return DaskSetupError(
        f"a Dask worker cannot import {error.name or 'a module'}: the workers need this project's requirements and "
        "the don_predictor package (run them from this project's image; the scheduler needs neither)"
    )


def _score(client, source, out, models_dir, versions, limit_ppb, risk, partition_bytes, started) -> DaskSummary:
    parts = partitions(source, partition_bytes)
    fs, root = fsspec.core.url_to_fs(out)
    fs.makedirs(root, exist_ok=True)
    # An earlier run's parts would read as part of this one, and its summary as this one's if this run fails.
    for old in [*fs.glob(f"{root}/part-*.parquet"), *fs.glob(f"{root}/{SUMMARY_FILE}")]:
        fs.rm(old)
    urls = [fs.unstrip_protocol(f"{root}/part-{p.index:05d}.parquet") for p in parts]
    score, describe, write = (_on_workers(client, f) for f in (score_partition, summary_of, write_partition))
    scored = client.map(
        operator.call,
        [score] * len(parts),
        [dataclasses.asdict(p) for p in parts],
        urls,
        models_dir=models_dir,
        versions=versions,
        limit_ppb=limit_ppb,
        risk=(risk.false_compliant, risk.false_suspect),
        trace_parent=tracing.carrier(),
        pure=False,
    )
    try:
        described = client.gather(client.map(operator.call, [describe] * len(parts), scored, pure=False))
        offsets, total, found = [], Summary(), []
        for described_part in described:
            offsets.append(total.rows)
            if described_part is None:
                continue
            part_summary, problems, no_id = described_part
            found += [_shifted(p, total.rows, no_id) for p in problems]
            total.merge(part_summary, total.rows)
        total.finish(list(versions))
        written = client.gather(client.map(operator.call, [write] * len(parts), scored, offsets, urls, pure=False))
    except ModuleNotFoundError as error:  # raised on a worker, re-raised here by gather
        raise _missing_on_workers(error) from None
    finally:
        client.cancel(scored)
    summary = DaskSummary(total.rows, total.scored, len(parts), found, total.warnings, total.verdicts)
    summary.summary_path = fs.unstrip_protocol(f"{root}/{SUMMARY_FILE}")
    with fsspec.open(summary.summary_path, "w") as stream:
        json.dump(
            _summary_document(summary, source, versions, limit_ppb, risk, written, offsets, started), stream, indent=1
        )
    return summary


def _on_workers(client, function: Callable):
    """A future of `function`, rebuilt by pickle.loads on a worker: the scheduler only sees bytes and a stdlib
    function (it would need don_predictor to unpickle a reference to one of its functions)."""
    return client.submit(pickle.loads, pickle.dumps(function), pure=False)


def _shifted(problem: RowProblem, offset: int, no_id: bool) -> str:
    row = problem.row + offset
    return dataclasses.replace(problem, row=row, id=str(row) if no_id else problem.id).message


def _summary_document(summary, source, versions, limit_ppb, risk, written, offsets, started) -> dict:
    return {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "input": source,
        "model_versions": versions,
        "limit_ppb": limit_ppb,
        "risk": {"false_compliant_rate": risk.false_compliant, "false_suspect_rate": risk.false_suspect},
        "rows": summary.rows,
        "scored": summary.scored,
        "not_scored": summary.rows - summary.scored,
        "verdicts": {
            backend: {verdict or "not_scored": n for verdict, n in counts.items()}
            for backend, counts in summary.verdicts.items()
        },
        "warnings": summary.warnings,
        "problems": summary.problems[:LISTED_PROBLEMS],
        "problems_not_listed": max(0, len(summary.problems) - LISTED_PROBLEMS),
        "partitions": [
            {"file": url, "first_row": offset + 1} for url, offset in zip(written, offsets, strict=True) if url
        ],
        "seconds": round(time.perf_counter() - started, 2),
    }
