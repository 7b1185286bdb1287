"""`predict --engine dask` against real schedulers (issue 21): one with no worker says it waits and exits 2 after
DON_DASK_WORKER_TIMEOUT instead of hanging silently; one that cannot import don_predictor (as the README promises:
only the workers need the package) scores the file."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from appserver import free_port
from cli_helpers import assert_no_traceback, run_cli
from conftest import ROOT

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # starts a scheduler and a worker process

# A scheduler process in which `import don_predictor` fails, whatever is installed (None in sys.modules blocks it).
SCHEDULER_WITHOUT_PACKAGE = """
import sys
sys.modules["don_predictor"] = None
from distributed.cli.dask_scheduler import main
main()
"""


@pytest.fixture(scope="module")
def models(small_rf_models):
    return small_rf_models


def test_a_scheduler_without_workers_says_it_waits_and_gives_up_with_exit_2(models, demo_upload, tmp_path, monkeypatch):
    monkeypatch.setenv("DON_DASK_WORKER_TIMEOUT", "2")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        result = run_cli(
            "predict", "--engine", "dask", "--scheduler", address, "--data", demo_upload, "--out", tmp_path / "out",
            "--models-dir", models,
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert f"waiting for a Dask worker to join the scheduler at {address} (up to 2 s: DON_DASK_WORKER_TIMEOUT)" in lines
    assert lines[-1].startswith(f"error: no Dask worker joined the scheduler at {address} in 2 s: start workers")
    assert_no_traceback(result)


def test_an_unreachable_scheduler_is_a_plain_error(models, demo_upload, tmp_path):
    import dask

    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        result = run_cli(
            "predict", "--engine", "dask", "--scheduler", address, "--data", demo_upload, "--out", tmp_path / "out",
            "--models-dir", models,
        )  # fmt: skip
    assert result.returncode == 2 and f"error: cannot reach the Dask scheduler at {address}" in result.stderr
    assert_no_traceback(result)


def test_a_scheduler_that_cannot_import_don_predictor_scores_the_file(models, demo_upload, tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    scheduler_command = [sys.executable, "-c", SCHEDULER_WITHOUT_PACKAGE, "--port", str(port)]
    scheduler_command += ["--dashboard-address", ":0", "--no-show"]
    worker_command = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1"]
    worker_command += ["--no-dashboard"]
    processes = [
        subprocess.Popen(scheduler_command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
        subprocess.Popen(worker_command, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL),
    ]
    try:
        out = tmp_path / "out"
        result = run_cli(
            "predict", "--engine", "dask", "--scheduler", address, "--data", demo_upload, "--out", out,
            "--models-dir", models,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert_no_traceback(result)
        parts = sorted(out.glob("part-*.parquet"))
        assert len(pd.concat([pd.read_parquet(p) for p in parts])) == 50
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
    assert b"deserialization of the task graph" not in processes[0].stderr.read()
