"""The prediction page, one function for every backend: upload, validate, score, chart, download."""

from __future__ import annotations

import numpy as np
import streamlit as st

from don_predictor import plots
from don_predictor.modeling.backends import backend_class
from don_predictor.store.governance import DEMO_MODEL_NOTE, is_demo
from don_predictor.trust.screening import trusted_rows, untrusted_as_nan
from don_predictor.ui.frame import current_limit
from don_predictor.ui.model_quality import model_quality_panel
from don_predictor.ui.models import active_versions, in_sample_counts, registry
from don_predictor.ui.results import (
    accuracy_metrics,
    chosen_limit,
    download_results,
    in_sample_warning,
    results_table,
    run_details,
    summary_metrics,
    trust_columns,
    verdict_summary,
)
from don_predictor.ui.scored_upload import score_and_record, traced_upload
from don_predictor.ui.upload import read_or_report, spectra_upload, target_of, validation_report


def render_predict_page(backend: str) -> None:
    label = backend_class(backend).label
    st.title(f"{label} predictions")
    versions, problems = active_versions((backend,))
    if problems:
        for problem in problems:
            st.error(problem)
        return
    version = versions[backend]
    st.caption(f"Active {label} model: version `{version.version}`, trained on {version.manifest.get('n_rows')} rows.")
    demo = frozenset({backend} if is_demo(version) else ())
    if demo:
        st.warning(f"{label}: {DEMO_MODEL_NOTE}.")
    model_quality_panel(version, current_limit().ppb)

    upload = spectra_upload(backend)
    limit = chosen_limit(backend)
    if upload is None:
        st.info("Drop a CSV of spectra above, or use the demo file.")
        return
    with traced_upload(backend):
        table = read_or_report(upload)
        if table is None:
            return
        validation_report(table)
        scored = score_and_record(upload, table, {backend: version}, limit, backend)
    if scored is None:
        return
    results, thresholds, lots = scored.results, scored.thresholds, scored.lots
    versions_key = tuple(scored.versions.items())
    ppb = results[f"{backend}_ppb"].to_numpy()
    # The charts below draw trusted predictions only, or mark the others: never an untrusted number as a result.
    trusted = {backend: trusted_rows(results, backend)}
    note = plots.left_out_note(int(np.isfinite(ppb).sum()), int(trusted[backend].sum()))

    verdict_summary(results, [backend], limit, thresholds, lots, demo)
    in_sample = in_sample_counts(upload.data, str(registry().root), versions_key, upload.sha256)
    in_sample_warning(in_sample, int(results["status"].eq("ok").sum()), versions)
    st.subheader("Predictions")
    summary_metrics(results, backend)
    results_table(results, [backend])
    metadata = run_details(upload, limit, scored.versions, thresholds)
    download_results(results, upload.name, backend, metadata, lots, target_of(table))
    verdicts = {backend: results[f"{backend}_verdict"].to_numpy()} if f"{backend}_verdict" in results else None
    st.plotly_chart(
        plots.intervals_figure(table.ids, {backend: trust_columns(results, backend)}, limit.ppb, limit.label, verdicts),
        width="stretch",
    )

    actual = target_of(table)
    if actual is not None:
        st.subheader("Against the measured values")
        accuracy_metrics(actual, {backend: untrusted_as_nan(results, backend)})
        st.plotly_chart(plots.actual_vs_predicted(actual, {backend: ppb}, table.ids, trusted), width="stretch")
        scored = int(np.isfinite(ppb).sum())
        if marked := plots.left_out_note(scored, int(trusted[backend].sum()), "scatter", marked=True):
            st.caption(marked + " The accuracy figures above leave them out.")

    left, right = st.columns(2)
    with left:
        st.markdown("**Uploaded spectra**")
        st.plotly_chart(plots.spectra_figure(table.band_names, table.X, table.ids), width="stretch")
    with right:
        st.markdown("**Distribution of predictions**")
        st.plotly_chart(plots.prediction_histogram({backend: ppb}, limit.ppb, trusted), width="stretch")
        if note:
            st.caption(note)

    importance = version.manifest.get("band_importance")
    if importance:
        with st.expander("Which bands the model relies on"):
            st.plotly_chart(plots.band_importance_figure(importance, version.manifest["band_names"]), width="stretch")
