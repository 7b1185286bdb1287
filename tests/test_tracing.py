"""Tracing against a real OTLP/HTTP receiver (oteltap) started here: the span tree of one upload on Compare in
Chromium, of a training run and of one batch run on 2 Dask workers (the trace context carried to the workers), and
log lines carrying the trace id. Off by default: without the OTEL_* variables nothing is set up."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from appserver import running_app
from conftest import ROOT
from otlp_receiver import attributes, children, otlp_receiver

from don_predictor import tracing

# Spans leave the processes every 200 ms (the SDK's default is 5 s) so the test does not wait on the batching.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "200"}


def _env(endpoint: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return {**clean, **FAST_EXPORT, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "PYTHONPATH": str(ROOT)}


def _one(spans: list, name: str):
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {len(found)} spans in {sorted(s.name for s in spans)}"
    return found[0]


def _values(spans: list) -> list[str]:
    return [str(v) for s in spans for v in attributes(s).values()]


def test_tracing_is_off_without_a_collector_and_follows_the_standard_variables():
    assert not tracing.enabled_by_environment({})
    assert tracing.enabled_by_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.enabled_by_environment({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert not tracing.enabled_by_environment({**on, "OTEL_SDK_DISABLED": "true"})
    assert not tracing.enabled_by_environment({**on, "OTEL_TRACES_EXPORTER": "none"})
    # Outside a recorded span there is no trace id to log, and a no-op span takes attributes without failing.
    with tracing.span("nothing", rows=3, skipped=None):
        assert tracing.current_trace_id() is None


ONCE_PER_PROCESS = """
from opentelemetry import trace
from don_predictor.tracing import setup_tracing
assert setup_tracing()
provider = trace.get_tracer_provider()
assert setup_tracing() and setup_tracing()  # Streamlit reruns a page script: nothing is set up again
assert trace.get_tracer_provider() is provider
print(len(provider._active_span_processor._span_processors))
"""


def test_the_tracer_provider_is_set_up_once_per_process():
    env = {**_env("http://127.0.0.1:9"), "OTEL_BSP_SCHEDULE_DELAY": "60000"}  # nothing is sent before the exit
    done = subprocess.run([sys.executable, "-c", ONCE_PER_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr  # one exporter, not one per call


@pytest.mark.parametrize(
    ("protocol", "module"), [("grpc", "proto.grpc"), ("http/protobuf", "proto.http"), ("", "proto.http")]
)
def test_the_exporter_follows_the_protocol_variable(monkeypatch, protocol, module):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    assert f"opentelemetry.exporter.otlp.{module}." in type(tracing._exporter()).__module__


def test_the_fleet_sends_traces_through_the_collector_to_jaeger():
    import yaml

    fleet = yaml.safe_load((ROOT / "ops" / "compose.fleet.yaml").read_text())
    services = fleet["services"]
    collector = yaml.safe_load((ROOT / "ops" / "otel" / "collector.yaml").read_text())
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    for app in ("app1", "app2"):
        assert services[app]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-collector:{http}"
    (exporter,) = collector["service"]["pipelines"]["traces"]["exporters"]
    assert collector["exporters"][exporter]["endpoint"].split(":")[0] in services
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def _cli(env: dict, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "don_predictor", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_training_an_import_and_a_batch_on_two_dask_workers_are_one_trace_each(
    demo_calibration, demo_upload, tmp_path
):
    models, out = tmp_path / "models", tmp_path / "out"
    small = tmp_path / "calibration.csv"
    pd.read_csv(demo_calibration).head(80).to_csv(small, index=False)  # a quick fit: the spans are the point
    with otlp_receiver() as (endpoint, received):
        env = _env(endpoint)
        trained = _cli(env, "train", "--data", small, "--backend", "rf", "--trees", 10, "--cv-folds", 3,
                       "--models-dir", models, "--override-reason", "tiny test model")  # fmt: skip
        assert trained.returncode == 0, trained.stderr
        spans = received.wait_for(lambda spans: any(s.name == "cli.train" for s in spans))
        run = _one(spans, "cli.train")
        (train,) = children(spans, run)
        assert train.name == "train"
        trained_version = attributes(train).pop("version")
        assert attributes(train) == {"backend": "rf", "rows": 80, "bands": 448, "folds": 3, "version": trained_version}
        assert trained_version in trained.stdout + trained.stderr
        stages = sorted(children(spans, train), key=lambda s: s.start_time_unix_nano)
        assert [s.name for s in stages] == [
            "train.cross_validation",
            "train.final_fit",
            "train.calibration",
            "train.band_importance",
            "train.save",
        ]

        # A backup import: the version just trained, exported here and imported into a second registry.
        from don_predictor.store.backup import export_version
        from don_predictor.store.registry import Registry

        backup = tmp_path / "rf-backup.zip"
        backup.write_bytes(export_version(Registry(models), "rf", trained_version))
        imported = _cli(env, "import", "--file", backup, "--models-dir", tmp_path / "other")
        assert imported.returncode == 0, imported.stderr
        spans = received.wait_for(lambda spans: any(s.name == "cli.import" for s in spans))
        (restore,) = children(spans, _one(spans, "cli.import"))
        assert restore.name == "backup.import"
        assert attributes(restore) == {
            "bytes": backup.stat().st_size,
            "activate": False,
            "backend": "rf",
            "version": trained_version,
        }

        batch = _cli(env, "predict", "--engine", "dask", "--workers", 2, "--batch-mb", 0.02, "--data", demo_upload,
                     "--out", out, "--models-dir", models, "--backend", "rf")  # fmt: skip
        assert batch.returncode == 0, batch.stderr
        spans = received.wait_for(lambda spans: any(s.name == "cli.predict" for s in spans))
    run = _one(spans, "cli.predict")
    (dask,) = children(spans, run)
    assert dask.name == "batch.dask" and attributes(dask)["workers"] == 2
    assert attributes(dask)["backends"] == "rf" and attributes(dask)["versions"].startswith("rf:")
    parts = children(spans, dask)  # each partition's span, sent by the worker that scored it, in the batch's trace
    assert parts and {s.name for s in parts} == {"batch.partition"}
    assert len(parts) == attributes(dask)["partitions"] >= 4
    assert sorted(attributes(s)["partition"] for s in parts) == list(range(len(parts)))
    assert sum(attributes(s)["rows"] for s in parts) == attributes(dask)["rows"] == len(pd.read_csv(demo_upload))
    # Scored in the worker processes (the local cluster's workers are named 0 and 1), usually both.
    assert {attributes(s)["worker"] for s in parts} <= {"0", "1"}
    ids = pd.read_csv(demo_upload)["hsi_id"].astype(str)
    names = {demo_upload.name, small.name, backup.name, *ids}
    assert not names & set(_values(spans)), "no file name or sample id in any attribute"


@pytest.mark.slow
@pytest.mark.e2e
def test_one_upload_on_compare_is_one_trace_read_score_decide_record(trained_registry, demo_upload):
    from test_e2e import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with otlp_receiver() as (endpoint, received):
        env = {k: v for k, v in _env(endpoint).items() if k != "PYTHONPATH"}
        with running_app(trained_registry.root, extra_env=env) as (url, process, _s), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(120_000)
                page.goto(f"{url}/compare")
                page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(demo_upload))
                page.get_by_text("Scored by both models").wait_for()
            finally:
                browser.close()
            spans = received.wait_for(lambda spans: any(s.name == "page.upload" for s in spans))
        log = process.stdout.read().decode(errors="replace")
    root = _one(spans, "page.upload")
    assert attributes(root) == {"page": "compare"} and not root.parent_span_id
    steps = sorted(children(spans, root), key=lambda s: s.start_time_unix_nano)
    assert [s.name for s in steps] == ["read", "score", "decide", "record"]
    read, score, decide, record = (attributes(s) for s in steps)
    rows = len(pd.read_csv(demo_upload))
    assert read["rows"] == rows and read["bands"] == 448
    assert score["rows"] == rows and score["backends"] == "rf,tf" and score["reused"] is False
    assert score["versions"] == ",".join(f"{b}:{trained_registry.active_version(b)}" for b in ("rf", "tf"))
    assert decide["limit_ppb"] > 0 and decide["limit"] and record["rows"] == rows
    ids = pd.read_csv(demo_upload)["hsi_id"].astype(str)
    assert not {demo_upload.name, *ids} & set(_values(spans)), "no file name or sample id in any attribute"
    # The server's log line for this run carries the trace's id: the log and the trace meet on it.
    scored = [line for line in log.splitlines() if " scored " in line]
    assert scored and re.search(rf"trace_id={root.trace_id.hex()}$", scored[-1]), log[-2000:]
