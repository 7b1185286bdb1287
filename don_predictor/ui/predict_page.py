"""The prediction page, one function for every set of backends: upload, validate, score, decide, chart, download.
One backend is a model's page; two are Compare: the two models side by side plus their joint (BOTH) decision."""

from __future__ import annotations

import numpy as np
import streamlit as st

from don_predictor import plots
from don_predictor.modeling.backends import backend_class
from don_predictor.plain_text import markdown_literal, visible
from don_predictor.scoring.frame_views import trusted_rows, untrusted_as_nan, verdict_agreement
from don_predictor.scoring.run import JOINT
from don_predictor.scoring.score import training_overlap
from don_predictor.services.compare import add_differences, agreement
from don_predictor.store.governance import DEMO_MODEL_NOTE, is_demo
from don_predictor.store.registry import ModelVersion
from don_predictor.trust.limits import Limit
from don_predictor.ui.frame import current_limit
from don_predictor.ui.lab_worklist import worklist_downloads
from don_predictor.ui.model_cache import active_versions, load_model, registry
from don_predictor.ui.model_quality import model_quality_panel
from don_predictor.ui.results import (
    accuracy_metrics,
    chosen_limit,
    download_results,
    in_sample_warning,
    results_table,
    run_details,
    sample_call,
    summary_metrics,
    trust_columns,
    verdict_summary,
)
from don_predictor.ui.scored_upload import ScoredUpload, score_and_record, traced_upload
from don_predictor.ui.upload import read_or_report, spectra_upload, target_of, validation_report

MAX_PICKER_ROWS = 1000
COMPARE = "compare"  # Compare's upload, widget and download key, and its history source


def render_predict_page(backends: tuple[str, ...]) -> None:
    """The page for `backends`: ("rf",) or ("tf",) is a model's page, ("rf", "tf") is Compare."""
    several = len(backends) > 1
    key = COMPARE if several else backends[0]
    versions = _header(backends)
    if versions is None:
        return
    demo = frozenset(b for b, v in versions.items() if is_demo(v))
    upload = spectra_upload(key)
    limit = chosen_limit(key)
    if upload is None:
        st.info("Drop a CSV of spectra above, or use the demo file.")
        return
    with traced_upload(key):
        table = read_or_report(upload)
        if table is None:
            return
        validation_report(table)
        scored = score_and_record(upload, table, versions, limit, key, demo)
    if scored is None:
        return
    results, decisions = scored.results, scored.decisions
    shown = decisions.names  # the joint decision first, then each model with verdicts
    verdict_summary(results, shown if several else list(backends), limit, decisions.thresholds, decisions.lots, demo)
    loaded = {b: load_model(str(registry().root), b, v) for b, v in scored.versions.items()}
    in_sample_warning(training_overlap(table, loaded), int(results["status"].eq("ok").sum()), versions)
    metadata = run_details(upload, limit, scored.versions, scored.thresholds)
    if several:
        _compare_body(upload, table, scored, versions, limit, metadata)
    else:
        _model_body(upload, table, scored, versions[backends[0]], limit, metadata)


def _header(backends: tuple[str, ...]) -> dict[str, ModelVersion] | None:
    """Title, active versions and their warnings; None (after saying why) when a backend has no active model."""
    several = len(backends) > 1
    if several:
        st.title("Compare " + " and ".join(backend_class(b).label for b in backends))
    else:
        label = backend_class(backends[0]).label
        st.title(f"{label} predictions")
    versions, problems = active_versions(backends)
    for problem in problems:
        st.error(problem)
    if problems or len(versions) < len(backends):
        return None
    if several:
        st.caption(" · ".join(f"{b.upper()} `{v.version}`" for b, v in versions.items()))
    else:
        version = versions[backends[0]]
        st.caption(
            f"Active {label} model: version `{version.version}`, trained on {version.manifest.get('n_rows')} rows."
        )
    for backend, version in versions.items():
        if is_demo(version):
            st.warning(f"{backend.upper() if several else label}: {DEMO_MODEL_NOTE}.")
    if not several:
        model_quality_panel(versions[backends[0]], current_limit().ppb)
    return versions


def _model_body(upload, table, scored: ScoredUpload, version: ModelVersion, limit: Limit, metadata: dict) -> None:
    """A model's page below the verdicts: predictions, downloads, intervals, accuracy, spectra, importance."""
    results = scored.results
    (backend,) = scored.versions
    ppb = scored.run.backends[backend].ppb
    # The charts below draw trusted predictions only, or mark the others: never an untrusted number as a result.
    trusted = {backend: trusted_rows(results, backend)}
    note = plots.left_out_note(int(np.isfinite(ppb).sum()), int(trusted[backend].sum()))
    st.subheader("Predictions")
    summary_metrics(results, backend)
    results_table(results, [backend])
    download_results(results, upload.name, backend, metadata, scored.decisions.lots, target_of(table))
    worklist_downloads(scored.worklist, upload.name, backend, scored.run.id_column)
    verdicts = {b: d.verdict for b, d in scored.decisions.models.items()} or None
    st.plotly_chart(
        plots.intervals_figure(table.ids, {backend: trust_columns(results, backend)}, limit.ppb, limit.label, verdicts),
        width="stretch",
    )
    actual = target_of(table)
    if actual is not None:
        st.subheader("Against the measured values")
        accuracy_metrics(actual, {backend: untrusted_as_nan(results, backend)})
        st.plotly_chart(plots.actual_vs_predicted(actual, {backend: ppb}, table.ids, trusted), width="stretch")
        scored_rows = int(np.isfinite(ppb).sum())
        if marked := plots.left_out_note(scored_rows, int(trusted[backend].sum()), "scatter", marked=True):
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


def _compare_body(upload, table, scored: ScoredUpload, versions: dict, limit: Limit, metadata: dict) -> None:
    """Compare below the verdicts: what BOTH is, agreement, results with differences, accuracy, one sample."""
    results, joint = scored.results, scored.decisions.joint
    rf, tf = (scored.run.backends[b].ppb for b in ("rf", "tf"))
    # Agreement and accuracy only from predictions each model trusts (scored, in its calibration domain).
    rf_trusted, tf_trusted = untrusted_as_nan(results, "rf"), untrusted_as_nan(results, "tf")
    _joint_note(joint.deciding if joint is not None else None, scored.decisions.demo)
    _agreement(results, rf, tf, rf_trusted, tf_trusted, limit)
    both = {b: trust_columns(results, b) for b in ("rf", "tf")}
    # The charts draw trusted predictions only, or mark the others: never an untrusted number as a result.
    trusted = {b: trusted_rows(results, b) for b in ("rf", "tf")}
    verdicts = {b: d.verdict for b, d in scored.decisions.models.items()}
    st.plotly_chart(plots.intervals_figure(table.ids, both, limit.ppb, limit.label, verdicts or None), width="stretch")

    compared = add_differences(results)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Results")
        results_table(compared, ["rf", "tf"])
    with right:
        st.subheader("TF against RF")
        st.plotly_chart(plots.compare_scatter(rf, tf, table.ids, trusted["rf"] & trusted["tf"]), width="stretch")

    actual = target_of(table)
    if joint is not None and len(joint.deciding) == 1:  # the downloads say BOTH is one model, as the page does
        metadata["joint_decision_by"] = joint.deciding[0]
    download_results(compared, upload.name, COMPARE, metadata, scored.decisions.lots, actual)
    worklist_downloads(scored.worklist, upload.name, COMPARE, scored.run.id_column)

    if actual is not None:
        st.subheader("Against the measured values")
        accuracy_metrics(actual, {"rf": rf_trusted, "tf": tf_trusted})
        st.plotly_chart(plots.actual_vs_predicted(actual, {"rf": rf, "tf": tf}, table.ids, trusted), width="stretch")
        for b, ppb in (("rf", rf), ("tf", tf)):
            if marked := plots.left_out_note(
                int(np.isfinite(ppb).sum()), int(trusted[b].sum()), "scatter", marked=True
            ):
                st.caption(f"{b.upper()}: {marked}")

    _one_sample(table, results, rf, versions)

    st.subheader("Spectra and predictions")
    left, right = st.columns(2)
    left.plotly_chart(plots.spectra_figure(table.band_names, table.X, table.ids), width="stretch")
    right.plotly_chart(plots.prediction_histogram({"rf": rf, "tf": tf}, limit.ppb, trusted), width="stretch")
    for b, ppb in (("rf", rf), ("tf", tf)):
        if note := plots.left_out_note(int(np.isfinite(ppb).sum()), int(trusted[b].sum())):
            right.caption(f"{b.upper()}: {note}")


def _joint_note(deciding: tuple[str, ...] | None, demo: frozenset[str]) -> None:
    """What BOTH is: the real model alone beside a demo model (a warning), else both models' joint decision."""
    if deciding is not None and len(deciding) == 1:
        (real,) = deciding
        st.warning(
            f"**BOTH is {real.upper()} alone**: {', '.join(b.upper() for b in sorted(demo))} is a demo model, trained "
            "on synthetic spectra, so its verdicts say nothing about these samples and do not join the decision. "
            "Train both models on your calibration file (Train)."
        )
    elif deciding is not None:
        st.caption(
            "**BOTH** is the decision to act on: `below` only when both models clear the sample, `above` only when "
            "both reject it, otherwise `send_to_lab`. It is at least as safe as either model alone (a contaminated "
            "sample is cleared only if both clear it)."
        )


def _agreement(results, rf, tf, rf_trusted, tf_trusted, limit: Limit) -> None:
    st.subheader("Agreement")
    stats = agreement(rf_trusted, tf_trusted, limit.ppb)
    same = verdict_agreement(results)
    cols = st.columns(4)
    cols[0].metric(
        "samples both models trust",
        stats["n"],
        help="Scored by both and inside both calibration domains: the figures beside it use these samples only.",
    )
    cols[1].metric("Spearman rank correlation", f"{stats['spearman']:.2f}" if np.isfinite(stats["spearman"]) else "—")
    cols[2].metric(
        "same verdict, where both decided",
        f"{same['same_verdict_share']:.0%} of {same['n_both_decided']}" if same["n_both_decided"] else "—",
        help="Of the samples both models called below or above (in domain, calibrated), the share they agree on.",
    )
    cols[3].metric("median |TF − RF|", f"{stats['median_abs_diff_ppb']:,.0f} ppb" if stats["n"] else "—")
    if (scored_by_both := int((np.isfinite(rf) & np.isfinite(tf)).sum())) > stats["n"]:
        st.caption(
            f"{scored_by_both - stats['n']:,} of {scored_by_both:,} samples scored by both lie outside a model's "
            "calibration domain: their predictions are not trusted and are left out of the rank correlation and the "
            "median difference."
        )


def _one_sample(table, results, rf, versions: dict) -> None:
    """One sample's calls: BOTH's decision, each model's, and its spectrum against the training mean."""
    st.subheader("One sample")
    scored_rows = [i for i in range(table.n_rows) if np.isfinite(rf[i])]
    if not scored_rows:
        return
    if len(scored_rows) <= MAX_PICKER_ROWS:
        row = st.selectbox("Sample", scored_rows, format_func=lambda i: f"{visible(table.ids[i])}  (row {i + 1})")
    else:  # a drop-down of thousands of options slows the browser: pick by row number instead
        number = st.number_input("Sample (row number in the file)", 1, table.n_rows, scored_rows[0] + 1)
        row = int(number) - 1
        st.caption(
            f"Row {row + 1:,}: {markdown_literal(table.ids[row])}" + ("" if np.isfinite(rf[row]) else " (not scored)")
        )
    mean = versions["rf"].manifest.get("training_mean_spectrum")
    c1, c2 = st.columns([1, 3])
    with c1:
        if f"{JOINT}_verdict" in results:
            st.metric("BOTH: decision", results[f"{JOINT}_verdict"].iloc[row] or "not scored")
        sample_call(results, "rf", row, "RandomForest")
        sample_call(results, "tf", row, "TensorFlow")
    spectrum = table.bands_matrix(versions["rf"].manifest["band_names"])[row]
    c2.plotly_chart(
        plots.spectrum_against_mean(versions["rf"].manifest["band_names"], spectrum, mean, table.ids[row]),
        width="stretch",
    )
