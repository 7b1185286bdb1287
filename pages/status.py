import pandas as pd
import streamlit as st

from don_predictor.config import settings
from don_predictor.plain_text import markdown_literal, visible
from don_predictor.services.health import check_health
from don_predictor.services.jobs import format_duration, latest_job
from don_predictor.services.permissions import PermissionDenied
from don_predictor.store.audit import list_audit, readable_detail
from don_predictor.store.backup import database_copy, export_version, import_version
from don_predictor.store.registry import RegistryError
from don_predictor.ui.frame import ensure_router
from don_predictor.ui.login import can, current_actor, explain_missing, guarded_download
from don_predictor.ui.model_cache import LOAD_SECONDS, registry

ensure_router()
st.title("Status")
config = settings()
health = check_health(
    registry(),
    LOAD_SECONDS,
    config.history_db,
    alpha=config.false_compliant_rate,
    check_pattern=config.check_sample_pattern,
)
if health.status == "OK":
    st.success("**OK**: every model is active and verified; memory and disk are fine; the history records runs.")
elif health.status == "DEMO":
    names = " and ".join(b.upper() for b in health.demo_models)
    st.warning(
        f"**Demo models**: {names} {'is a demo model' if len(health.demo_models) == 1 else 'are demo models'}, "
        "trained on synthetic spectra: their verdicts say nothing about real samples. Train both models on your "
        "calibration file (Train)."
    )
else:
    st.error("**DEGRADED**: " + " · ".join(health.reasons))

p, s = health.process, health.system
cols = st.columns(5)
cols[0].metric("process memory (RSS)", f"{p['rss_mb']:,.0f} MB")
cols[1].metric("process CPU", f"{p['cpu_percent']:.0f} %", help="Over the last second or more; 100 % is one core busy")
cols[2].metric("system memory available", f"{s['memory_available_mb'] / 1024:,.1f} GB")
cols[3].metric("disk free (models)", f"{s['disk_free_mb'] / 1024:,.1f} GB")
cols[4].metric("uptime", f"{p['uptime_s'] / 60:,.0f} min")
st.caption(f"Process CPU is the share of one core since the previous look at this page ({s['cpus']} cores).")

st.subheader("Training")
job = latest_job()
if job is None:
    st.caption("No training has run since the app started.")
elif job.running:  # the description holds the uploaded file's name, the user is typed at login: plain text
    st.info(
        f"**Running:** {markdown_literal(job.description)}, started by {markdown_literal(job.user or 'a user')} "
        f"{format_duration(job.seconds)} ago · {job.fraction:.0%} · {markdown_literal(job.status_line())}"
    )
else:
    lost = f"was lost ({job.error or 'the replica running it stopped'})"
    ended = {"failed": "failed", "lost": lost}.get(job.state, "finished")  # a lost job's error is our own text
    reason = f" {markdown_literal(job.error)}" if job.state == "failed" and job.error else ""
    st.caption(
        f"Last training {ended}: {markdown_literal(job.description)}, after {format_duration(job.seconds)}.{reason}"
    )

st.subheader("Models")
models = pd.DataFrame(
    [
        {
            "model": m["backend"].upper(),
            "active version": m["version"] or "none",
            "checksums": m["checksum"],
            "load time": f"{m['load_s']:.2f} s" if m["load_s"] is not None else "not loaded yet",
        }
        for m in health.models
    ]
)
st.dataframe(models, hide_index=True, width="stretch")
if can("server_paths"):  # server paths are for the people who run the app
    st.caption(f"Models directory: {markdown_literal(s['models_dir'])}")

st.subheader("Versions")
st.dataframe(pd.DataFrame([health.versions]), hide_index=True, width="stretch")
tf_loaded = health.versions["tensorflow"] != "not loaded"
st.caption("TensorFlow is loaded." if tf_loaded else "TensorFlow is not loaded yet (it loads with the first TF model).")

st.subheader("Backups")
left, right = st.columns(2)
with left:
    st.markdown("**Export a model version** (one zip: bundle + manifest)")
    reg = registry()
    backend = st.selectbox("Model", ["rf", "tf"], format_func=str.upper, key="export_backend")
    try:
        versions = [v.version for v in reg.versions(backend)]
    except RegistryError as error:
        versions = []
        st.error(str(error))
    if not can("export"):
        explain_missing("export")
    elif versions:
        version = st.selectbox("Version", versions, key="export_version")
        try:
            reg.verify(reg.get(backend, version))  # a damaged version is named here, not offered
        except RegistryError as error:
            st.error(str(error))
        else:  # built when the button is pressed (not on every page run); checked and audited then
            guarded_download(
                "Download the zip",
                "export",
                lambda actor: export_version(reg, backend, version, by=actor),
                f"{backend}_{version}.zip",
                "application/zip",
            )
    else:
        st.caption("No versions yet.")
with right:
    st.markdown("**Import a model version** (checked before it is added; not activated)")
    if not can("import"):
        explain_missing("import")
        uploaded = None
    else:
        uploaded = st.file_uploader("Backup zip", type=["zip"], key="import_zip")
    if uploaded is not None and st.button("Import", key="import_button"):
        try:  # checked against the role and audited (refusals too) in store/backup.py
            imported = import_version(registry(), uploaded.getvalue(), by=current_actor(), file_name=uploaded.name)
        except (RegistryError, PermissionDenied) as error:
            st.error(f"Refused: {markdown_literal(error)}")
        else:
            st.success(
                f"Imported {imported.backend.upper()} version {imported.version}; activate it on the Train page."
            )

st.markdown("**Prediction history**")
db = settings().history_db
history_line = f"Prediction history: {health.history.text}."  # the history's own state, not user text
if health.history.writable:
    st.caption(history_line)
else:  # scoring still works; runs are not kept until this is fixed
    st.warning(history_line + " Predictions still work, but runs are not recorded.")
# It holds the audit trail, users, addresses and server paths: admins only, checked again and audited on the click
# (made then: SQLite's online backup API, safe while the app writes).
if not guarded_download(
    "Download a copy of the history database",
    "database_copy",
    lambda actor: database_copy(db, by=actor),
    "history.sqlite",
    "application/vnd.sqlite3",
):
    explain_missing("database_copy")

st.subheader("Audit trail")
if not can("audit"):
    st.caption("The audit trail is shown to admins.")  # it names users, addresses and server paths
else:
    st.caption("Activations, rollbacks, imports, exports, logins and starts, newest first.")
    try:
        trail = list_audit(db)
    except Exception as error:  # a broken history file must not take the Status page down
        st.warning(f"The audit trail cannot be read: {type(error).__name__}")
    else:
        if trail.empty:
            st.caption("Nothing recorded yet.")
        else:
            shown = trail.fillna({"user": "—"}).assign(detail=[visible(readable_detail(d)) for d in trail["detail"]])
            shown["user"] = shown["user"].map(visible)
            st.dataframe(shown, hide_index=True, width="stretch")
