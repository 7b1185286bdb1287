"""Train page pieces: the background training job, its progress, the challenger-versus-champion review, versions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from don_predictor import plots
from don_predictor.config import BACKENDS
from don_predictor.config import settings as app_settings
from don_predictor.modeling.quality import DEFAULT_LIMIT_PPB, screening_at
from don_predictor.modeling.training import MIN_TRAINING_ROWS, train_and_register
from don_predictor.plain_text import markdown_literal, visible
from don_predictor.services.jobs import Job, JobBusyError, latest_job, plain_reason, start_job
from don_predictor.services.permissions import PermissionDenied, require
from don_predictor.spectra.table import SpectraTable
from don_predictor.store import governance
from don_predictor.store.registry import ModelVersion, RegistryError
from don_predictor.ui.login import can, current_actor, current_user, explain_missing
from don_predictor.ui.model_cache import registry

JOB_KEY = "train_job"
# Each backend's share of a job's progress bar, by its training time with the defaults on the dev data: since TF
# trains in a compiled epoch loop (issue 20), its job takes about half RF's (`make bench-train`).
TRAINING_WEIGHT = {"rf": 1.0, "tf": 0.5}
DISMISSED_KEY = "train_job_dismissed"
VERSION_COLUMNS = {
    "decides at 1,500 ppb": st.column_config.NumberColumn(format="percent", help="Out of fold, false-compliant ≤ 5 %"),
    "CV MAE (ppb)": st.column_config.NumberColumn(format="%.0f"),
    "CV R²": st.column_config.NumberColumn(format="%.2f"),
    "CV R² (log)": st.column_config.NumberColumn(format="%.2f"),
}


@dataclass
class TrainingOutcome:
    """What a job saved and what failed, per backend: one backend's failure does not hide the other's version."""

    saved: list[ModelVersion] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # backend -> plain reason
    activated: list[str] = field(default_factory=list)  # versions activated at once (no champion, or a demo one)


def current_job() -> Job | None:
    return st.session_state.get(JOB_KEY)


def training_elsewhere() -> Job | None:
    """A training running for another session of this app or on another replica."""
    job, own = latest_job(), current_job()
    if job is None or not job.running or (own is not None and job.job_id == own.job_id):
        return None
    return job


def blocks_training(job: Job | None) -> bool:
    """Whether that job keeps this app from starting one: jobs run one at a time per process, and per backend across
    replicas (jobs.start_job), so only this process's own job blocks before the models are chosen."""
    return job is not None and job.owner is None


@st.fragment(run_every=2.0)
def training_elsewhere_panel() -> None:
    """Another session's training, followed until it ends; then the page runs again so Train can be pressed."""
    job = training_elsewhere()
    if job is None:
        if st.session_state.pop(f"{JOB_KEY}_elsewhere", False):
            st.rerun()
        return
    st.session_state[f"{JOB_KEY}_elsewhere"] = True
    by = f" by {markdown_literal(job.user)}" if job.user else ""
    if blocks_training(job):
        rule = "one training runs at a time in this app, so Train is available again when it ends"
    else:  # start_job refuses only a backend that replica is training
        rule = "a training of the same model waits until it ends; another model can be trained meanwhile"
    where = "in another session" if job.owner is None else f"on another replica ({job.owner})"
    what = markdown_literal(job.description or job.title)  # the description names the uploaded file
    st.info(f"**Training {what}** was started{by} {markdown_literal(where)}: {rule} (see also the Status page).")
    st.progress(job.fraction, text=markdown_literal(job.status_line()))


def start_training(table: SpectraTable, data: bytes, name: str, settings: dict) -> bool:
    """Start one background job that trains each chosen backend in turn (saved versions are not activated); False,
    with the reason on the page, when it cannot start."""
    usable = int(table.trainable.sum())
    if usable < MIN_TRAINING_ROWS:  # said now, on the page, rather than from the job a moment later
        st.error(
            f"**{markdown_literal(name)}** cannot train a model: only {usable} rows have a complete spectrum and a "
            f"valid vomitoxin_ppb; training needs at least {MIN_TRAINING_ROWS}."
        )
        return False
    reg = registry()
    actor = current_actor()  # the job saves as this user, checked and audited by the registry
    backends = settings["backends"]
    weights = [TRAINING_WEIGHT.get(backend, 1.0) for backend in backends]
    shares = [w / sum(weights) for w in weights]  # of the progress bar
    starts = [sum(shares[:i]) for i in range(len(backends))]

    # Read in the session, before the job's thread starts: the role decides whether a first real model replaces
    # the demo model at once (activating is an admin's action).
    may_activate, config = can("activate"), app_settings()

    def work(progress) -> TrainingOutcome:
        outcome = TrainingOutcome()
        for i, backend in enumerate(backends):
            try:
                require(actor, "train")  # before minutes of fitting (the registry checks again at the save)
                version = train_and_register(
                    table,
                    backend,
                    reg,
                    data_bytes=data,
                    data_name=name,
                    params=settings["params"][backend],
                    cv_repeats=settings["cv_repeats"],
                    activate=False,
                    judged_limit_ppb=config.default_limit_ppb,
                    risk=config.risk,
                    progress=lambda f, m, b=backend, i=i: progress(starts[i] + f * shares[i], f"{b.upper()} {m}"),
                    by=actor,
                )
                outcome.saved.append(version)
                review = governance.review_activation(reg, backend, version.version, config.default_limit_ppb)
                if may_activate and review.needs_no_review:
                    governance.activate(reg, backend, version.version, by=actor, limit_ppb=config.default_limit_ppb)
                    outcome.activated.append(version.version)
            except Exception as error:  # the next backend still trains; the page says what failed and why
                outcome.failed[backend] = plain_reason(error)
        if not outcome.saved:
            raise RuntimeError("; ".join(f"{b.upper()}: {reason}" for b, reason in outcome.failed.items()))
        return outcome

    description = f"{', '.join(b.upper() for b in backends)} on {name} ({usable} rows)"
    try:
        st.session_state[JOB_KEY] = start_job(
            "training", work, description=description, user=current_user(), backends=tuple(backends)
        )
    except JobBusyError as error:
        st.warning(markdown_literal(error))
        return False
    st.session_state.pop(DISMISSED_KEY, None)
    return True


@st.fragment(run_every=1.0)
def job_progress() -> None:
    """Redrawn every second while the job runs; the rest of the page stays usable."""
    job = current_job()
    if job is None or st.session_state.get(DISMISSED_KEY):
        return
    if job.running:
        st.markdown(f"**Training {markdown_literal(job.description)}**")
        st.progress(job.fraction, text=markdown_literal(job.status_line()))
        # A job that trains two models saves the first while the second trains: show it in Versions at once.
        stamp, seen = registry().folders_stamp(), st.session_state.get(f"{JOB_KEY}_folders")
        st.session_state[f"{JOB_KEY}_folders"] = stamp
        if seen is not None and seen != stamp:
            st.rerun()
        return
    if st.session_state.get(f"{JOB_KEY}_shown") is not job:
        st.session_state[f"{JOB_KEY}_shown"] = job
        st.rerun()  # once, so the whole page shows the result


def job_result() -> None:
    """The ended job's outcome until the user dismisses it or starts another job."""
    job = current_job()
    if job is None or job.running or st.session_state.get(DISMISSED_KEY):
        return
    outcome: TrainingOutcome | None = job.result
    if job.state == "failed":
        st.error(
            f"Training {markdown_literal(job.description)} failed after {job.seconds:,.0f} s: "
            + markdown_literal(job.error)
        )
    else:
        saved = ", ".join(f"{v.backend.upper()} `{v.version}`" for v in outcome.saved)
        waiting = [v for v in outcome.saved if v.version not in outcome.activated]
        active = [v for v in outcome.saved if v.version in outcome.activated]
        then = ""
        if active:
            names = " and ".join(v.backend.upper() for v in active)
            then = (
                f" {names} {'is' if len(active) == 1 else 'are'} active now (there was no real model to compare with)."
            )
        if waiting:
            then += " Review " + ("it" if len(waiting) == 1 else "each") + " below before you activate it."
        st.success(f"Saved {saved} in {job.seconds:,.0f} s.{then}")
        for backend, reason in outcome.failed.items():
            st.error(f"{backend.upper()} failed and was not saved: {markdown_literal(reason)}")
    if st.button("Dismiss", key="dismiss_job"):
        st.session_state[DISMISSED_KEY] = True
        st.rerun()
    if outcome is not None:
        for version in outcome.saved:
            challenger_panel(version)


def challenger_panel(version: ModelVersion) -> None:
    """The new version beside the active one on the same CV figures, and the governed activation."""
    reg = registry()
    active = reg.active_version(version.backend) == version.version
    st.markdown(f"#### {version.backend.upper()}: {'new version' if active else 'challenger'} `{version.version}`")
    try:
        review = governance.review_activation(reg, version.backend, version.version, app_settings().default_limit_ppb)
    except RegistryError as error:
        st.error(markdown_literal(error))
        return
    frame = pd.DataFrame(review.rows).rename(
        columns={
            "challenger": f"challenger {version.version}",
            "champion": f"active {review.champion.version}" if review.champion else "active: none",
        }
    )
    st.dataframe(frame, hide_index=True, width="stretch")
    if review.comparison:
        st.caption(markdown_literal(review.comparison))  # it names the training files
    history = version.history()
    if history:
        st.plotly_chart(plots.loss_curve(history), width="stretch")
    if reg.active_version(version.backend) == version.version:
        st.caption("This version is active.")
        return
    activation_controls(version.backend, version.version, review, key=f"new_{version.version}")


def activation_controls(backend: str, version: str, review: governance.ActivationReview, key: str) -> None:
    """An Activate button; for a refused challenger, the reasons, an override box and a required reason."""
    if not can("activate"):
        explain_missing("activate")
        return
    reason = ""
    if not review.allowed:
        st.warning("Not recommended: " + markdown_literal("; ".join(review.problems)) + ".")
        override = st.checkbox("Activate anyway (override)", key=f"override_{key}")
        reason = st.text_input("Reason for the override (recorded)", key=f"reason_{key}", disabled=not override)
        if not override or not reason.strip():
            st.button(f"Activate {backend.upper()} {version}", key=f"activate_{key}", disabled=True)
            return
    if st.button(f"Activate {backend.upper()} {version}", key=f"activate_{key}", type="primary"):
        try:
            governance.activate(
                registry(),
                backend,
                version,
                by=current_actor(),
                override_reason=reason,
                limit_ppb=app_settings().default_limit_ppb,
            )
        except (governance.GovernanceError, RegistryError, PermissionDenied) as error:
            st.error(markdown_literal(error))
        else:
            st.toast(f"{backend.upper()} {version} is now active")
            st.rerun()


def versions_panel() -> None:
    reg = registry()
    for backend in BACKENDS:
        try:
            versions = reg.versions(backend)
            active = reg.active_version(backend)
        except RegistryError as error:
            st.error(markdown_literal(error))
            continue
        st.markdown(f"#### {backend.upper()}")
        if not versions:
            st.caption("No versions yet.")
            continue
        rows = [
            {
                "active": "✔" if v.version == active else "",
                "version": v.version,
                "trained": str(v.created)[:19].replace("T", " "),
                "data": visible(v.manifest.get("data_name", "")),
                "rows": v.manifest.get("n_rows"),
                "decides at 1,500 ppb": (screening_at(v.cv_metrics, DEFAULT_LIMIT_PPB) or {}).get("decided"),
                "CV MAE (ppb)": v.cv_mean("mae_ppb"),
                "CV R²": v.cv_mean("r2"),
                "CV R² (log)": v.cv_mean("r2_log"),
            }
            for v in versions
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=VERSION_COLUMNS)
        if not can("rollback"):
            explain_missing("rollback")
            continue
        left, right = st.columns([4, 1], vertical_alignment="bottom")
        chosen = left.selectbox("Review a version", [v.version for v in versions], key=f"choose_{backend}")
        previous = reg.previous_version(backend)
        # The button names where it goes: it undoes the last activation, whatever the picker beside it shows.
        if right.button(
            f"Roll back to {previous}" if previous else "Roll back",
            key=f"rollback_{backend}",
            disabled=previous is None,
            help="Re-activate the version that was active before the current one"
            if previous
            else "No earlier active version to go back to",
        ):
            try:
                st.toast(f"{backend.upper()} rolled back to {governance.rollback(reg, backend, by=current_actor())}")
            except (RegistryError, PermissionDenied) as error:
                st.warning(markdown_literal(error))
            else:
                st.rerun()
        if chosen != active:
            with st.expander(f"Review {backend.upper()} {chosen} before activating it", expanded=False):
                review = governance.review_activation(reg, backend, chosen, app_settings().default_limit_ppb)
                st.dataframe(pd.DataFrame(review.rows), hide_index=True, width="stretch")
                if review.comparison:
                    st.caption(markdown_literal(review.comparison))  # it names the training files
                activation_controls(backend, chosen, review, key=f"chosen_{backend}_{chosen}")
