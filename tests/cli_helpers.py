"""The command line in the test's own process: `main(argv)` with stdin, stdout and stderr swapped for strings.

A subprocess per call started an interpreter and imported pandas, scikit-learn and (for TF) TensorFlow every time:
most of the unit layer's time. `python -m don_predictor` itself (__main__.py, exit codes as a process, pipes) is
checked by the few tests that start a real process (`run_cli_process`)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args, stdin: str = "") -> CliResult:
    """What `python -m don_predictor ARGS` would exit with and print, run in this process. Python warnings go to
    stderr under Python's default filters, as a process prints them (pytest would otherwise swallow them)."""
    from don_predictor.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            warnings.catch_warnings(record=True) as caught,
        ):
            _python_default_warning_filters()
            try:
                code = main([str(a) for a in args])
            except SystemExit as exit:  # argparse: --help, or a usage error (exit 2)
                code = exit.code if isinstance(exit.code, int) else 1
    finally:
        sys.stdin = saved_stdin
    shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught)
    return CliResult(code, out.getvalue(), err.getvalue() + shown)


def _python_default_warning_filters() -> None:
    """The filters a plain `python` process starts with (no -W, no PYTHONWARNINGS)."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)


def run_cli_process(*args, **kwargs) -> subprocess.CompletedProcess:
    """`python -m don_predictor ARGS` as a real process (for what only a process shows: its exit status, pipes)."""
    return subprocess.run(
        [sys.executable, "-m", "don_predictor", *map(str, args)], capture_output=True, text=True, cwd=ROOT, **kwargs
    )


def assert_no_traceback(result: CliResult | subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
