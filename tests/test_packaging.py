"""The package installs: a wheel built from pyproject.toml carries the version, the pinned dependencies and the
files the code reads at run time (the report template, the history migrations)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser

from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import don_predictor


def pin(line: str) -> tuple[str, str, str]:
    requirement = Requirement(line)
    return canonicalize_name(requirement.name), str(requirement.specifier), str(requirement.marker or "")


def test_the_wheel_has_the_version_the_dependencies_and_the_data_files(tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the work tree
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "models", "data", "tests", "__pycache__", "build")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("don_predictor-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "don_predictor/templates/run_report.html" in names
    assert any(n.startswith("don_predictor/store/history/migrations/versions/") for n in names)
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode())
    assert metadata["Version"] == don_predictor.__version__
    pinned = {pin(line) for line in metadata.get_all("Requires-Dist")}
    required = (ROOT / "requirements.txt").read_text().splitlines()
    assert {pin(line) for line in required if line.strip() and not line.startswith("#")} == pinned
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "don-predictor = don_predictor.cli:main" in entry_points
