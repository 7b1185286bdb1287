"""The command line: demo-data, train, predict, evaluate, info, lab-results, ...

Exit codes: 0 ok, 2 bad input (one plain line per problem on stderr), 1 internal error. Never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import itertools
import os
import pwd
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from don_predictor import tracing
from don_predictor.config import BACKENDS, Settings, SettingsError
from don_predictor.modeling.backends.base import ProgressCallback
from don_predictor.modeling.quality import headline
from don_predictor.modeling.training import TrainingDataError
from don_predictor.services.permissions import Actor, PermissionDenied, allows, require
from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.table import SpectraError
from don_predictor.store.registry import Registry, RegistryError
from don_predictor.trust.limits import ABOVE, BELOW, DEFAULT_LIMIT, LIMITS, SEND_TO_LAB, get_limit

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2

# `train --quick`: demo models a newcomer gets in a minute or two on 2 cores (make models, make run), instead of ~7
# minutes for the defaults with 5-fold CV. Good enough to try the app on the synthetic demo data; calibrate real
# instruments with the defaults.
QUICK_PARAMS = {
    "rf": {"n_estimators": 60, "max_features": 0.3},  # a third of the bands per split: about 3x faster per tree
    "tf": {"epochs": 50, "patience": 8, "ensemble_size": 3},
}
QUICK_CV_FOLDS = 2  # out-of-fold predictions for the intervals and verdicts from two fits on half the data each


class UsageError(Exception):
    """Bad input that is not about the CSV itself (a missing file, no trained model, ...)."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    tracing.setup_tracing()
    try:
        with tracing.span(f"cli.{args.command}", command=args.command) as span:
            code = args.handler(args)
            span.set_attribute("exit_code", code)
        sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at interpreter exit
        return code
    except BrokenPipeError:  # `info | head`: the reader has all it wanted
        _silence_stdout()
        return EXIT_INTERNAL
    except SpectraError as error:
        for problem in error.problems:
            _say(f"error: {problem}")
        return EXIT_BAD_INPUT
    except (UsageError, RegistryError, TrainingDataError, SettingsError, ValueError, PermissionDenied) as error:
        _say(f"error: {error}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERNAL
    except Exception as error:  # the last guard: a plain line instead of a traceback
        _say(f"internal error: {type(error).__name__}: {error}")
        return EXIT_INTERNAL


# --- commands ----------------------------------------------------------------------------------------------------


def cmd_demo_data(args: argparse.Namespace) -> int:
    from don_predictor.spectra.demo import write_demo_data

    for path in write_demo_data(args.out):
        print(path)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from don_predictor.modeling.training import train_and_register
    from don_predictor.store import governance

    actor = _actor()
    require(actor, "train")  # before reading or fitting anything
    data = _read_input(args.data)
    table = read_spectra(data, require_target=True)
    _report_table(table)
    registry = Registry(_models_dir(args))
    registry.clean_partials()  # folders a crashed save left behind more than an hour ago
    refused = False
    settings = Settings.from_env()
    cv_folds = args.cv_folds or (QUICK_CV_FOLDS if args.quick else 5)
    for backend in _backends(args.backend):
        params = {"seed": args.seed} | (QUICK_PARAMS[backend] if args.quick else {})
        if backend == "rf" and args.trees:
            params["n_estimators"] = args.trees
        if backend == "tf" and args.epochs:
            params["epochs"] = args.epochs
        if args.quick:
            _say(f"{backend}: quick demo model ({_describe(params)}, {cv_folds}-fold CV for its intervals)")
        started = time.perf_counter()
        version = train_and_register(
            table,
            backend,
            registry,
            data_bytes=data,
            data_name=Path(args.data).name,
            params=params,
            cv_folds=cv_folds,
            cv_repeats=args.cv_repeats,
            activate=False,  # a challenger: activated below only if the review allows it
            judged_limit_ppb=settings.default_limit_ppb,
            risk=settings.risk,
            progress=_progress_printer(backend),
            by=actor,
        )
        state = "saved, not activated"
        if not args.no_activate and not allows(actor.role, "activate"):
            refused = True
            _say(f"warning: {backend} {version.version} is saved, not activated: {_refusal(actor, 'activate')}")
        elif not args.no_activate:
            try:
                governance.activate(
                    registry,
                    backend,
                    version.version,
                    by=actor,
                    override_reason=args.override_reason,
                    limit_ppb=settings.default_limit_ppb,
                )
                state = "active"
            except governance.GovernanceError as error:
                refused = True
                _say(f"warning: {error} (pass --override-reason TEXT to activate it anyway)")
        quality = headline(version.cv_metrics, settings.default_limit_ppb)
        print(f"{backend}: version {version.version} ({state}) in {time.perf_counter() - started:.1f} s: {quality}")
    return EXIT_BAD_INPUT if refused else EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    """Scores the file batch by batch (bounded memory whatever its size), or on a Dask cluster with --engine dask."""
    from don_predictor.lab.worklist import StreamedWorklist
    from don_predictor.scoring.frame_views import lot_tally
    from don_predictor.services import batch
    from don_predictor.services.progress import Progress
    from don_predictor.services.results_csv import results_csv
    from don_predictor.spectra import stream
    from don_predictor.spectra.read_ahead import read_ahead
    from don_predictor.store.governance import DEMO_MODEL_NOTE, is_demo, out_of_domain_advice

    require(_actor(), "score")
    _check_input(args.data)
    _refuse_writing_over_input(args)
    settings = Settings.from_env()
    if args.engine == "dask":
        return _predict_on_dask(args, settings)
    if args.scheduler or args.workers:
        raise UsageError("--scheduler and --workers are for --engine dask")
    batch_bytes = int(args.batch_mb * (1 << 20)) if args.batch_mb else stream.BATCH_BYTES
    # The first batch is read and checked before the models load, so a bad file is what the user hears about; the
    # reading thread then reads ahead while the models load and score.
    incoming = read_ahead(stream.batches(args.data, batch_bytes, read_spectra))
    try:
        first = next(incoming, None)
        if args.lots_out and first is not None and first.table.lots is None:
            raise UsageError(f"--lots-out needs a 'lot' or 'lot_id' column in {args.data}")
        registry, versions, limit = _scoring_setup(args, settings)
        models = {name: registry.load(name, version) for name, version in versions.items()}
        demo = {name for name, version in versions.items() if is_demo(registry.get(name, version))}
        for name in sorted(demo):
            _say(f"warning: {name}: {DEMO_MODEL_NOTE}")
        started = time.perf_counter()
        # The lab worklist: drawn whenever the run is recorded (its picks and their spectra are kept) or asked for.
        wanted = args.worklist_out or not args.no_history
        worklist = StreamedWorklist(settings.verify_share) if wanted else None
        summary = batch.score_stream(
            itertools.chain([first] if first else [], incoming),
            _open_results(args.out),
            models,
            limit.ppb,
            settings.risk,
            keep_rows=0 if args.no_history else settings.max_upload_rows,
            say=_say,
            progress=Progress(Path(args.data).stat().st_size),
            worklist=worklist,
        )
    finally:
        incoming.close()  # stops the reading thread when scoring stopped early
    names, risk = list(versions), settings.risk
    for warning in summary.warnings:
        _say(f"warning: {warning}")
    lots = summary.lots.table() if summary.lots is not None else None
    if args.lots_out and lots is not None:
        _write_output(args.lots_out, results_csv(lots))
    if summary.lots is not None and summary.without_lot:
        _say(f"warning: {summary.without_lot:,} rows have an empty lot cell: they are in no lot's verdict")
    run_id = None
    if not args.no_history:
        run_id = _record_history(args, settings, summary, versions, limit, time.perf_counter() - started)
    if worklist is not None and worklist.parts:
        _lab_worklist(args, settings, worklist, run_id, summary.id_column)
    print(f"{summary.scored} of {summary.rows} rows scored with {', '.join(names)}; results in {args.out}")
    for name in names:
        if name in summary.verdicts:
            counts = summary.verdicts[name]
            summary_line = ", ".join(f"{counts.get(v, 0)} {v}" for v in (BELOW, SEND_TO_LAB, ABOVE))
            thresholds = summary.thresholds.get(name)
            rule = risk.label if thresholds else "interval rule: model saved before the screening calibration"
            print(f"{name} against {limit.label}: {summary_line} ({rule})")
            for note in thresholds.notes() if thresholds else []:
                _say(f"warning: {name}: {note}")
            if outside := summary.out_of_domain.get(name, 0):
                _say(
                    f"warning: {name}: {outside:,} of {summary.scored:,} spectra lie outside the calibration domain "
                    "(Hotelling T², Q residual or baseline statistic over its limit): their predictions are not "
                    f"trusted and their verdict is send_to_lab. {out_of_domain_advice(name in demo)}"
                )
        if lots is not None and name in summary.lots.verdicts:
            counts = lot_tally(lots, name)
            summary_line = ", ".join(f"{counts.get(v, 0)} {v}" for v in (BELOW, SEND_TO_LAB, ABOVE))
            print(f"{name} lots: {summary_line}" + (f"; lot table in {args.lots_out}" if args.lots_out else ""))
    if summary.scored == 0:
        _say("error: no row could be scored (see the problems above)")
        return EXIT_BAD_INPUT
    return EXIT_OK


def _refuse_writing_over_input(args: argparse.Namespace) -> None:
    """Before anything is written: no output may be (or, for the Dask engine's folder, hold) the input file, be a
    file the app keeps (history, users file, models), or be a folder (the worklist is checked before scoring)."""
    from don_predictor.services.output_guard import check_file_outputs, check_folder_output, check_not_protected

    settings = Settings.from_env()
    protected = {
        "the prediction history database": settings.history_db,
        "the users file": settings.users_file,
        "inside the models directory": _models_dir(args),
    }
    check_not_protected(
        {"--out": args.out, "--lots-out": args.lots_out, "--worklist-out": args.worklist_out}, protected
    )
    for flag, path in (("--lots-out", args.lots_out), ("--worklist-out", args.worklist_out)):
        if path and Path(path).is_dir():
            raise UsageError(f"{flag} {path} is a folder: name a file")

    if args.engine == "dask":
        check_folder_output(args.data, "--out", args.out)
        check_file_outputs(args.data, {"--lots-out": args.lots_out, "--worklist-out": args.worklist_out})
    else:
        outputs = {"--out": args.out, "--lots-out": args.lots_out, "--worklist-out": args.worklist_out}
        check_file_outputs(args.data, outputs)


def _lab_worklist(args, settings: Settings, streamed, run_id: str | None, id_column: str) -> None:
    """The run's lab worklist: kept with the recorded run (and the listed spectra), and written to
    --worklist-out (Excel for .xlsx, else CSV) for the lab, which fills in vomitoxin_ppb and sends it back
    (lab-results)."""
    from don_predictor.lab.records import record_worklist
    from don_predictor.lab.worklist import worklist_csv, worklist_xlsx
    from don_predictor.store.history import HistoryError

    worklist, spectra = streamed.finish(run_id or "")
    if run_id is not None:
        try:
            record_worklist(
                settings.history_db,
                worklist,
                None,
                listed_spectra=spectra,
                band_names=streamed.band_names,
                keep_max=settings.lab_spectra_max,
                keep_days=settings.lab_spectra_retention_days,
            )
        except HistoryError as error:
            _say(f"warning: the lab worklist was not kept in the prediction history ({error})")
    if args.worklist_out:
        xlsx = Path(args.worklist_out).suffix.lower() == ".xlsx"
        _write_output(args.worklist_out, (worklist_xlsx if xlsx else worklist_csv)(worklist, id_column))
        if run_id is None:
            _say("warning: the run was not recorded, so lab results cannot be matched to its worklist by run id")
    where = f" in {args.worklist_out}" if args.worklist_out else ""
    print(
        f"lab worklist: {worklist.confirm_count} to confirm, {worklist.verify_count} of {worklist.cleared} cleared "
        f"to verify ({worklist.verify_share:.0%}){where}"
    )


def _record_history(args, settings, summary, versions, limit, seconds: float) -> str | None:
    """The run and its rows in the prediction history (its run id); a file too big to keep row by row is said so
    instead (None)."""
    if summary.history is None:
        _say(
            f"warning: not recorded in the prediction history: {summary.rows:,} rows is more than "
            f"DON_MAX_UPLOAD_ROWS ({settings.max_upload_rows:,}); the results file holds them (--no-history: say "
            "nothing)"
        )
        return None
    from don_predictor.scoring.decide import decide
    from don_predictor.scoring.record import record
    from don_predictor.store.history import HistoryError, RunInfo

    digest = hashlib.sha256()
    with open(args.data, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    info = RunInfo("cli", versions, Path(args.data).name, digest.hexdigest(), limit.key, _user_name())
    run = summary.history  # the batches' runs as one: decided again at the run's limit, as each batch was
    try:
        return record(settings.history_db, run, decide(run, limit.ppb, settings.risk), info, seconds).run_id
    except HistoryError as error:  # the results file is written: the user's data is safe, only the record is not
        _say(f"warning: this run was not recorded in the prediction history ({error}); the results are in {args.out}")
        return None


def _scoring_setup(args: argparse.Namespace, settings: Settings):
    """The registry, the active version of each chosen backend, and the limit."""
    registry = Registry(_models_dir(args))
    names = _backends(args.backend)
    if args.backend == "all":
        names = [name for name in names if registry.active_version(name)]
        if not names:
            raise UsageError(f"no active model in {registry.root}: train one first (python -m don_predictor train)")
    limit = get_limit(args.limit or settings.default_limit)
    return registry, {name: registry.active_version(name) for name in names}, limit


def _predict_on_dask(args: argparse.Namespace, settings: Settings) -> int:
    from don_predictor.services import dask_engine

    if args.lots_out:
        raise UsageError("--lots-out is not available with --engine dask (each partition is scored on its own)")
    if args.worklist_out:
        raise UsageError("--worklist-out is not available with --engine dask: score with --engine local")
    registry, versions, limit = _scoring_setup(args, settings)
    risk = settings.risk
    summary = dask_engine.score_on_dask(
        args.data,
        args.out,
        registry.root,
        versions,
        limit.ppb,
        risk,
        scheduler=args.scheduler,
        workers=args.workers,
        partition_bytes=int(args.batch_mb * (1 << 20)) if args.batch_mb else dask_engine.PARTITION_BYTES,
        worker_timeout=settings.dask_worker_timeout,
        say=_say,
    )
    for problem in summary.problems:
        _say(f"warning: {problem}")
    for warning in summary.warnings:
        _say(f"warning: {warning}")
    print(
        f"{summary.scored} of {summary.rows} rows scored with {', '.join(versions)} in {summary.partitions} "
        f"partitions; results in {args.out} (summary: {summary.summary_path})"
    )
    if summary.scored == 0:
        _say("error: no row could be scored (see the problems above)")
        return EXIT_BAD_INPUT
    return EXIT_OK


def _size_params(backend: str, args: argparse.Namespace) -> dict:
    """--trees for RF and --epochs for TF, where given (a smaller model for a quick look)."""
    if backend == "rf" and getattr(args, "trees", None):
        return {"n_estimators": args.trees}
    if backend == "tf" and getattr(args, "epochs", None):
        return {"epochs": args.epochs}
    return {}


def cmd_evaluate(args: argparse.Namespace) -> int:
    from don_predictor.modeling.evaluation import cross_validate, format_summary_table

    table = read_spectra(_read_input(args.data), require_target=True)
    _report_table(table)
    usable = table.trainable
    results = []
    for backend in [*BACKENDS, "pls"] if args.backend == "all" else [args.backend]:
        started = time.perf_counter()
        results.append(
            cross_validate(
                backend,
                table.X[usable],
                table.target[usable],
                table.band_names,
                folds=args.folds,
                repeats=args.repeats,
                seed=args.seed,
                progress=_progress_printer(backend),
                params=_size_params(backend, args),
            )
        )
        _say(f"{backend}: {args.folds}x{args.repeats} CV took {time.perf_counter() - started:.1f} s")
    print(f"{int(usable.sum())} rows, {len(table.band_names)} bands")
    print(format_summary_table(results))
    y = table.target[usable]
    for result in results:  # cross-conformal: calibrated on the other folds, counted on each held-out fold
        coverage = result.interval_coverage(y)
        print(
            f"{result.backend}: {coverage['level']:.0%} intervals cover {coverage['coverage']:.3f} of held-out "
            f"samples, median width {coverage['median_width_ppb']:,.0f} ppb"
        )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from don_predictor.store.backup import export_version

    registry = Registry(_models_dir(args))
    version = args.version or registry.active_version(args.backend)
    if not version:
        raise UsageError(f"no active {args.backend} model to export; name one with --version")
    _write_output(args.out, export_version(registry, args.backend, version, by=_actor()))
    print(f"{args.backend} version {version} written to {args.out}")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from don_predictor.store import governance
    from don_predictor.store.backup import import_version

    actor = _actor()
    if args.activate:
        require(actor, "activate")  # refused before anything is added
    registry = Registry(_models_dir(args))
    data = _read_input(args.file)
    version = import_version(registry, data, activate=False, by=actor, file_name=Path(args.file).name)  # audited
    state = "not activated"
    if args.activate:
        governance.activate(registry, version.backend, version.version, by=actor, override_reason=args.override_reason)
        state = "active"
    print(f"{version.backend} version {version.version} imported ({state})")
    return EXIT_OK


def cmd_lab_results(args: argparse.Namespace) -> int:
    """The lab's measured values into the history, one report line per row of the file; exit 2 when none matched."""
    from don_predictor.lab.results import accept_results

    actor = _actor()
    require(actor, "lab_results")  # before reading anything
    data = _read_input(args.file)
    report = accept_results(Settings.from_env().history_db, data, Path(args.file).name, actor, args.id_column)
    for line in report.lines():
        print(line)
    if not report.matched:
        _say(f"error: no row of {args.file} matched a scored sample in the prediction history")
        return EXIT_BAD_INPUT
    return EXIT_OK


def cmd_hash_password(args: argparse.Namespace) -> int:
    from don_predictor.services.auth import hash_password, write_user

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("Password: ")
    if not args.stdin and getpass.getpass("Again: ") != password:
        raise UsageError("the two passwords differ")
    if args.users_file:
        if not args.user:
            raise UsageError("--users-file needs --user NAME (and --role, default viewer)")
        write_user(Path(args.users_file), args.user, hash_password(password), args.role)
        print(f"user {args.user} ({args.role}) written to {args.users_file}")
    else:
        print(hash_password(password))
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    registry = Registry(_models_dir(args))
    limit_ppb = Settings.from_env().default_limit_ppb
    print(f"models directory: {registry.root.resolve()}")
    for backend in BACKENDS:
        versions = registry.versions(backend)
        active = registry.active_version(backend)
        print(f"{backend}: {len(versions)} version(s), active: {active or 'none'}")
        for version in versions:
            marker = "*" if version.version == active else " "
            rows = version.manifest.get("n_rows", "?")
            data_name = version.manifest.get("data_name", "")
            quality = _quality(version, limit_ppb)
            print(f"  {marker} {version.version}  {version.created[:19]}  {rows} rows  {data_name}{quality}")
    return EXIT_OK


# --- helpers -----------------------------------------------------------------------------------------------------


def _describe(params: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in params.items() if key != "seed")


def _quality(version, limit_ppb: float) -> str:
    """What the version decides at the limit and its error (CV), its interval coverage; a demo model says so."""
    from don_predictor.store.governance import DEMO_MODEL_NOTE, is_demo

    text = "  " + headline(version.cv_metrics, limit_ppb)
    intervals = version.manifest.get("intervals") or {}
    if "coverage" in intervals:
        text += f"; {intervals['level']:.0%} intervals cover {intervals['coverage']:.3f}"
    if is_demo(version):
        text += f"\n      {DEMO_MODEL_NOTE}"
    return text


def _actor() -> Actor:
    """The command line acts as the operating-system user, with the role the users file (DON_USERS_FILE) gives that
    name: the same permission table as the app. Without a users file the app has no roles either, and the user with
    a shell on the server is its admin; a user the file does not list is a viewer (scores only)."""
    from don_predictor.services.auth import current_users

    name, users_file = _user_name(), Settings.from_env().users_file
    if users_file is None:
        return Actor(name, "admin")
    user = current_users(users_file).get(name or "")
    return Actor(name, user.role if user else "viewer")


def _refusal(actor: Actor, action: str) -> str:
    from don_predictor.services.permissions import refusal

    who = f"the user {actor.name}" if actor.name else "this user"
    return refusal(actor.role, action).replace("Your role", f"{who}'s role in DON_USERS_FILE", 1)


def _user_name() -> str | None:
    """The operating system's user for this process: its real uid's name, not LOGNAME or USER (which anyone can set,
    and getpass.getuser reads first)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, OSError):  # a container user without a passwd entry
        return None


def _say(line: str) -> None:
    with contextlib.suppress(BrokenPipeError, ValueError):  # stderr closed, or piped to a reader that left
        print(line, file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (tests)
        pass


def _write_output(path: str, content: bytes) -> None:
    with _writing(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(content)


def _open_results(path: str):
    """A results writer for `path` (CSV or Parquet by its suffix)."""
    from don_predictor.services.results_writer import ResultsWriter
    from don_predictor.spectra.stream import is_parquet

    if Path(path).is_dir():
        raise UsageError(f"{path}: is a directory; name a file to write")
    if Path(path).suffix.lower() not in (".csv", ".txt", "") and not is_parquet(path):
        raise UsageError(f"{path}: results are written as CSV (.csv) or Parquet (.parquet); name the file so")
    with _writing(path):
        return ResultsWriter(path)


@contextlib.contextmanager
def _writing(path: str) -> Iterator[None]:
    """A file that cannot be written is one plain line naming it (exit 2), never a traceback."""
    try:
        yield
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory; name a file to write") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"{path}: a file is in the way of the folder to write into") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot be written ({error.strerror or type(error).__name__})") from None


def _read_input(path: str) -> bytes:
    with _input_errors(path):
        return Path(path).read_bytes()


def _check_input(path: str) -> None:
    """The file exists and can be read (it is read later, batch by batch). A URL is for the Dask engine to open."""
    if "://" in path:
        return
    with _input_errors(path), open(path, "rb"):
        pass


@contextlib.contextmanager
def _input_errors(path: str):
    try:
        yield
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a CSV file") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None


def _report_table(table) -> None:
    for warning in table.warnings:
        _say(f"warning: {warning}")
    for problem in table.problems:
        _say(f"warning: {problem.message}")


def _models_dir(args: argparse.Namespace) -> Path:
    return Path(args.models_dir) if args.models_dir else Settings.from_env().models_dir


def _backends(choice: str) -> list[str]:
    return list(BACKENDS) if choice == "all" else [choice]


def _progress_printer(backend: str) -> ProgressCallback:
    """Prints a line each time another tenth of the work is done."""
    shown = {"step": -1}

    def report(fraction: float, message: str) -> None:
        step = int(fraction * 10)
        if step > shown["step"]:
            shown["step"] = step
            _say(f"{backend}: {fraction:4.0%}  {message}")

    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m don_predictor", description="Predict DON (vomitoxin) in corn, in ppb, from reflectance spectra."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo-data", help="write the synthetic demo calibration and upload files")
    demo.add_argument("--out", default="data", help="output directory (default: data)")
    demo.set_defaults(handler=cmd_demo_data)

    def add_models_dir(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--models-dir", help="model registry (default: $DON_MODELS_DIR, else ./models)")

    def common(sub: argparse.ArgumentParser, models_dir: bool = True) -> None:
        sub.add_argument("--data", required=True, help="spectra CSV")
        if models_dir:
            sub.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
            add_models_dir(sub)

    train = commands.add_parser("train", help="train and register new model versions")
    common(train)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-activate", action="store_true", help="save the new version without activating it")
    train.add_argument(
        "--override-reason",
        default="",
        help="activate even when the new version is clearly worse than the active one; the reason is audited",
    )
    train.add_argument("--trees", type=int, help="RandomForest: number of trees")
    train.add_argument("--epochs", type=int, help="TensorFlow: maximum epochs")
    train.add_argument(
        "--cv-folds", type=int, help=f"folds of the CV stored with the model (default 5; {QUICK_CV_FOLDS} with --quick)"
    )
    train.add_argument(
        "--quick",
        action="store_true",
        help="small demo models, fast to build: "
        + "; ".join(f"{b} {_describe(p)}" for b, p in QUICK_PARAMS.items())
        + f"; {QUICK_CV_FOLDS}-fold CV",
    )
    train.add_argument("--cv-repeats", type=int, default=1, help="repeats of that CV; 0 skips it (default 1)")
    train.set_defaults(handler=cmd_train)

    predict = commands.add_parser("predict", help="score a spectra CSV with the active models")
    common(predict)
    predict.add_argument(
        "--out", required=True, help="results: CSV, or Parquet if it ends in .parquet (a folder with --engine dask)"
    )
    predict.add_argument("--no-history", action="store_true", help="do not record this run in the history")
    predict.add_argument(
        "--limit",
        help=(
            f"the limit verdicts are given against: one of {', '.join(limit.key for limit in LIMITS)}, or a number "
            f"of ppb (default {DEFAULT_LIMIT}; the environment's DON_DEFAULT_LIMIT when set)"
        ),
    )
    predict.add_argument("--lots-out", help="lot table CSV to write (needs a 'lot' or 'lot_id' column)")
    predict.add_argument(
        "--worklist-out",
        help="lab worklist to write (.csv, or .xlsx for Excel): every send_to_lab sample and a random DON_VERIFY_SHARE "
        "of the cleared ones, for the lab to fill in vomitoxin_ppb and return with lab-results",
    )
    predict.add_argument(
        "--engine",
        choices=["local", "dask"],
        default="local",
        help="local: streamed here, batch by batch; dask: partitions scored on a Dask cluster (default local)",
    )
    predict.add_argument("--scheduler", help="with --engine dask: the address of a running Dask scheduler")
    predict.add_argument("--workers", type=int, help="with --engine dask and no --scheduler: local worker processes")
    predict.add_argument(
        "--batch-mb", type=float, help="MB of input per batch (default 8), or per partition with dask (default 64)"
    )
    predict.set_defaults(handler=cmd_predict)

    evaluate = commands.add_parser("evaluate", help="repeated k-fold cross-validation")
    common(evaluate, models_dir=False)
    evaluate.add_argument(
        "--backend", choices=[*BACKENDS, "pls", "all"], default="all", help="all: rf, tf and the pls baseline"
    )
    evaluate.add_argument("--folds", type=int, default=5)
    evaluate.add_argument("--repeats", type=int, default=5)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--trees", type=int, help="RandomForest: number of trees (default: the model's)")
    evaluate.add_argument("--epochs", type=int, help="TensorFlow: maximum epochs (default: the model's)")
    evaluate.set_defaults(handler=cmd_evaluate)

    export = commands.add_parser("export", help="write one model version as a backup zip")
    export.add_argument("--backend", choices=BACKENDS, required=True)
    export.add_argument("--version", help="default: the active version")
    export.add_argument("--out", required=True, help="zip file to write")
    add_models_dir(export)
    export.set_defaults(handler=cmd_export)

    importing = commands.add_parser("import", help="add a model version from a backup zip, after checking it")
    importing.add_argument("--file", required=True, help="backup zip")
    importing.add_argument("--activate", action="store_true", help="activate the imported version (after review)")
    importing.add_argument("--override-reason", default="", help="activate even if the review refuses; audited")
    add_models_dir(importing)
    importing.set_defaults(handler=cmd_import)

    hashing = commands.add_parser(
        "hash-password", help="print a password hash for DON_PASSWORD_HASH, or add a user to a users file"
    )
    hashing.add_argument("--stdin", action="store_true", help="read the password from standard input")
    hashing.add_argument("--users-file", help="add or replace --user in this TOML users file (DON_USERS_FILE)")
    hashing.add_argument("--user", help="the user name, with --users-file")
    hashing.add_argument("--role", choices=["viewer", "analyst", "admin"], default="viewer", help="default viewer")
    hashing.set_defaults(handler=cmd_hash_password)

    lab = commands.add_parser(
        "lab-results", help="record the lab's measured DON for scored samples (row-by-row report)"
    )
    lab.add_argument(
        "--file",
        required=True,
        help="CSV: hsi_id (or --id-column), vomitoxin_ppb, optional method, date, uncertainty_ppb, run_id",
    )
    lab.add_argument("--id-column", help="the sample id column's name, when it is not hsi_id")
    lab.set_defaults(handler=cmd_lab_results)

    info = commands.add_parser("info", help="list model versions and which are active")
    add_models_dir(info)
    info.set_defaults(handler=cmd_info)
    return parser
