"""Train page pieces: the background training job, its progress, the new-versus-active comparison, versions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from don_predictor import charts
from don_predictor.config import BACKENDS
from don_predictor.evaluation import METRIC_LABELS
from don_predictor.jobs import Job, JobBusyError, start_job
from don_predictor.registry import ModelVersion, RegistryError
from don_predictor.spectra import SpectraTable
from don_predictor.training import TrainingDataError, train_and_register
from don_predictor.ui.models import registry

JOB_KEY = "train_job"


def current_job() -> Job | None:
    return st.session_state.get(JOB_KEY)


def start_training(table: SpectraTable, data: bytes, name: str, settings: dict) -> None:
    """Start one background job that trains each chosen backend in turn; saved versions are not activated."""
    reg = registry()
    backends = settings["backends"]

    def work(progress):
        versions, share = [], 1 / len(backends)
        for i, backend in enumerate(backends):
            versions.append(
                train_and_register(
                    table,
                    backend,
                    reg,
                    data_bytes=data,
                    data_name=name,
                    params=settings["params"][backend],
                    cv_repeats=settings["cv_repeats"],
                    activate=False,
                    progress=lambda f, m, i=i, b=backend: progress((i + f) * share, f"{b.upper()}: {m}"),
                )
            )
        return versions

    try:
        st.session_state[JOB_KEY] = start_job("training", work)
    except JobBusyError as error:
        st.warning(str(error))
    except TrainingDataError as error:
        st.error(str(error))


@st.fragment(run_every=1.0)
def job_progress() -> None:
    """Redrawn every second while the job runs; the rest of the page stays usable."""
    job = current_job()
    if job is None:
        return
    if job.running:
        st.progress(job.fraction, text=f"{job.message} · {job.seconds:,.0f} s")
        return
    if not st.session_state.get(f"{JOB_KEY}_shown"):
        st.session_state[f"{JOB_KEY}_shown"] = True
        st.rerun()  # once, so the whole page shows the result
    if job.state == "failed":
        st.error(f"Training failed: {job.error}")
    else:
        st.success(f"Trained {len(job.result)} new version(s) in {job.seconds:,.0f} s.")


def metrics_side_by_side(new: ModelVersion, active: ModelVersion | None) -> pd.DataFrame:
    def column(version: ModelVersion | None) -> list[str]:
        cv = version.cv_metrics if version else {}
        metrics, spread = cv.get("metrics", {}), cv.get("repeats", 1) > 1  # one repeat has no spread to show
        return [
            "—"
            if key not in metrics
            else f"{metrics[key]['mean']:,.3f}" + (f" ± {metrics[key]['sd']:,.3f}" if spread else "")
            for key in METRIC_LABELS
        ]

    def coverage(version: ModelVersion | None) -> str:
        intervals = (version.manifest.get("intervals") or {}) if version else {}
        return f"{intervals['coverage']:.3f}" if "coverage" in intervals else "—"

    labels = [*METRIC_LABELS.values(), "90 % interval coverage (CV)"]
    frame = pd.DataFrame({"metric": labels, f"new {new.version}": [*column(new), coverage(new)]})
    frame[f"active {active.version}" if active else "active: none"] = [*column(active), coverage(active)]
    return frame


def new_versions_panel(job: Job) -> None:
    reg = registry()
    for version in job.result:
        active = reg.active(version.backend)
        st.markdown(f"#### {version.backend.upper()}: version `{version.version}`")
        st.dataframe(metrics_side_by_side(version, active), hide_index=True, width="stretch")
        history = version.history()
        if history:
            st.plotly_chart(charts.loss_curve(history), width="stretch")
        if active is not None and active.version == version.version:
            st.caption("This version is active.")
        elif st.button(f"Activate {version.backend.upper()} {version.version}", key=f"activate_{version.version}"):
            reg.activate(version.backend, version.version)
            st.rerun()


def versions_panel() -> None:
    reg = registry()
    for backend in BACKENDS:
        versions = reg.versions(backend)
        active = reg.active_version(backend)
        st.markdown(f"#### {backend.upper()}")
        if not versions:
            st.caption("No versions yet.")
            continue
        rows = [
            {
                "active": "✔" if v.version == active else "",
                "version": v.version,
                "trained": v.created[:19].replace("T", " "),
                "data": v.manifest.get("data_name", ""),
                "rows": v.manifest.get("n_rows"),
                "CV R² (log)": v.cv_metrics.get("metrics", {}).get("r2_log", {}).get("mean"),
            }
            for v in versions
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        left, middle, right = st.columns([3, 1, 1], vertical_alignment="bottom")
        chosen = left.selectbox("Version", [v.version for v in versions], key=f"choose_{backend}")
        if middle.button("Activate", key=f"activate_chosen_{backend}", disabled=chosen == active):
            reg.activate(backend, chosen)
            st.rerun()
        if right.button("Roll back", key=f"rollback_{backend}", help="Re-activate the previously active version"):
            try:
                st.toast(f"{backend.upper()} rolled back to {reg.rollback(backend)}")
            except RegistryError as error:
                st.warning(str(error))
            else:
                st.rerun()
