"""`predict` never writes over its input: every output flag that resolves to the --data file is refused with exit 2
before anything is written (issue 21: `--out same.csv` overwrote the spectra and exited 0)."""

from __future__ import annotations

import os

import pytest
from cli_helpers import assert_no_traceback, run_cli

from don_predictor.services.output_guard import same_file


@pytest.fixture(scope="module")
def models(small_rf_models):
    return small_rf_models


@pytest.fixture
def spectra(tmp_path, demo_upload):
    """A copy of the demo upload with a lot column (so --lots-out is accepted), in its own folder."""
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    lines = demo_upload.read_text().splitlines()
    path = folder / "same.csv"
    path.write_text("\n".join([lines[0] + ",lot"] + [f"{line},L{i % 3}" for i, line in enumerate(lines[1:])]) + "\n")
    return path


def _refused(result, flag: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and flag in errors[0] and "input" in errors[0], result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize("how", ["same path", "dot-dot path", "symlink", "hard link"])
def test_an_out_that_resolves_to_the_input_is_refused_and_the_input_kept(models, spectra, how, monkeypatch):
    before = spectra.read_bytes()
    monkeypatch.chdir(spectra.parent)
    out = {"same path": "same.csv", "dot-dot path": "./sub/../same.csv"}.get(how, str(spectra.parent / "link.csv"))
    if how == "symlink":
        os.symlink(spectra, out)
    elif how == "hard link":
        os.link(spectra, out)
    result = run_cli("predict", "--data", "same.csv", "--out", out, "--models-dir", models, "--no-history")
    _refused(result, "--out")
    assert spectra.read_bytes() == before


def test_a_lots_out_that_is_the_input_is_refused_before_the_results_are_written(models, spectra, tmp_path):
    before = spectra.read_bytes()
    out = tmp_path / "results.csv"
    result = run_cli(
        "predict", "--data", spectra, "--out", out, "--lots-out", spectra.parent / "sub" / ".." / "same.csv",
        "--models-dir", models, "--no-history",
    )  # fmt: skip
    _refused(result, "--lots-out")
    assert spectra.read_bytes() == before and not out.exists()  # refused before anything was written


def test_out_and_lots_out_naming_one_file_are_refused(models, spectra, tmp_path):
    out = tmp_path / "results.csv"
    result = run_cli(
        "predict", "--data", spectra, "--out", out, "--lots-out", out, "--models-dir", models, "--no-history"
    )
    assert result.returncode == 2 and "--out and --lots-out name the same file" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("folder", ["parent", "input itself", "file url of the parent"])
def test_a_dask_results_folder_holding_the_input_is_refused(models, spectra, folder):
    before = sorted(p.name for p in spectra.parent.iterdir())
    out = {"parent": spectra.parent, "input itself": spectra}.get(folder, f"file://{spectra.parent}")
    result = run_cli(
        "predict", "--engine", "dask", "--workers", 1, "--data", spectra, "--out", out, "--models-dir", models
    )
    _refused(result, "--out")
    assert sorted(p.name for p in spectra.parent.iterdir()) == before


def test_an_output_that_does_not_exist_yet_is_compared_by_where_it_would_be(tmp_path):
    (tmp_path / "a").mkdir()
    os.symlink(tmp_path / "a", tmp_path / "b")
    assert same_file(tmp_path / "a" / "new.csv", tmp_path / "b" / "new.csv")
    assert not same_file(tmp_path / "a" / "new.csv", tmp_path / "a" / "other.csv")
