import numpy as np
import streamlit as st

from don_predictor import plots
from don_predictor.plain_text import markdown_literal, visible
from don_predictor.services.compare import add_differences, agreement, deciding_backends, with_joint_decision
from don_predictor.store.governance import DEMO_MODEL_NOTE, is_demo
from don_predictor.trust.screening import lot_table, trusted_rows, untrusted_as_nan, verdict_agreement
from don_predictor.ui.frame import ensure_router
from don_predictor.ui.models import active_versions, in_sample_counts, registry
from don_predictor.ui.results import (
    accuracy_metrics,
    chosen_limit,
    download_results,
    in_sample_warning,
    results_table,
    run_details,
    sample_call,
    trust_columns,
    verdict_summary,
)
from don_predictor.ui.scored_upload import score_and_record, traced_upload
from don_predictor.ui.upload import read_or_report, spectra_upload, target_of, validation_report

MAX_PICKER_ROWS = 1000

ensure_router()
st.title("Compare RandomForest and TensorFlow")
versions, problems = active_versions()
for problem in problems:
    st.error(problem)
if len(versions) < 2:
    st.stop()
st.caption(" · ".join(f"{b.upper()} `{v.version}`" for b, v in versions.items()))
for backend, version in versions.items():
    if is_demo(version):
        st.warning(f"{backend.upper()}: {DEMO_MODEL_NOTE}.")

upload = spectra_upload("compare")
limit = chosen_limit("compare")
if upload is None:
    st.info("Drop a CSV of spectra above, or use the demo file.")
    st.stop()
with traced_upload("compare"):
    table = read_or_report(upload)
    if table is None:
        st.stop()
    validation_report(table)
    scored = score_and_record(upload, table, versions, limit, "compare")
if scored is None:
    st.stop()
results, thresholds, lots = scored.results, scored.thresholds, scored.lots
versions_key = tuple(scored.versions.items())
rf, tf = results["rf_ppb"].to_numpy(), results["tf_ppb"].to_numpy()
# Agreement and accuracy only from predictions each model trusts (scored, in its calibration domain).
rf_trusted, tf_trusted = untrusted_as_nan(results, "rf"), untrusted_as_nan(results, "tf")

# One decision per sample (and lot) from both models: below only if both clear it, above only if both reject it.
# A model saved without its trust calibration has no verdicts: then there is no joint one either.
shown = [b for b in ("rf", "tf") if f"{b}_verdict" in results]
demo = frozenset(b for b, v in versions.items() if is_demo(v))
deciding = deciding_backends(demo)
if len(shown) == 2:
    results = with_joint_decision(results, deciding)
    shown = ["both", *shown]
if lots is not None:
    verdicts = {b: results[f"{b}_verdict"].to_numpy() for b in shown}
    lots = lot_table(table.lots, table.ids, verdicts)
verdict_summary(results, shown, limit, thresholds, lots, demo)
in_sample = in_sample_counts(upload.data, str(registry().root), versions_key, upload.sha256)
in_sample_warning(in_sample, int(results["status"].eq("ok").sum()), versions)
if "both" in shown and len(deciding) == 1:
    (real,) = deciding
    st.warning(
        f"**BOTH is {real.upper()} alone**: {', '.join(b.upper() for b in sorted(demo))} is a demo model, trained on "
        f"synthetic spectra, so its verdicts say nothing about these samples and do not join the decision. Train "
        "both models on your calibration file (Train)."
    )
elif "both" in shown:
    st.caption(
        "**BOTH** is the decision to act on: `below` only when both models clear the sample, `above` only when both "
        "reject it, otherwise `send_to_lab`. It is at least as safe as either model alone (a contaminated sample is "
        "cleared only if both clear it)."
    )

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
both = {b: trust_columns(results, b) for b in ("rf", "tf")}
# The charts draw trusted predictions only, or mark the others: never an untrusted number as a result.
trusted = {b: trusted_rows(results, b) for b in ("rf", "tf")}
verdicts = {b: results[f"{b}_verdict"].to_numpy() for b in ("rf", "tf") if f"{b}_verdict" in results}
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
metadata = run_details(upload, limit, scored.versions, thresholds)
if len(deciding) == 1:  # the downloads say BOTH is one model, as the page does
    metadata["joint_decision_by"] = deciding[0]
download_results(compared, upload.name, "compare", metadata, lots, actual)

if actual is not None:
    st.subheader("Against the measured values")
    accuracy_metrics(actual, {"rf": rf_trusted, "tf": tf_trusted})
    st.plotly_chart(plots.actual_vs_predicted(actual, {"rf": rf, "tf": tf}, table.ids, trusted), width="stretch")
    for b, ppb in (("rf", rf), ("tf", tf)):
        if marked := plots.left_out_note(int(np.isfinite(ppb).sum()), int(trusted[b].sum()), "scatter", marked=True):
            st.caption(f"{b.upper()}: {marked}")

st.subheader("One sample")
scored_rows = [i for i in range(table.n_rows) if np.isfinite(rf[i])]
if scored_rows:
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
        if "both_verdict" in results:
            st.metric("BOTH: decision", results["both_verdict"].iloc[row] or "not scored")
        sample_call(results, "rf", row, "RandomForest")
        sample_call(results, "tf", row, "TensorFlow")
    spectrum = table.bands_matrix(versions["rf"].manifest["band_names"])[row]
    c2.plotly_chart(
        plots.spectrum_against_mean(versions["rf"].manifest["band_names"], spectrum, mean, table.ids[row]),
        width="stretch",
    )

st.subheader("Spectra and predictions")
left, right = st.columns(2)
left.plotly_chart(plots.spectra_figure(table.band_names, table.X, table.ids), width="stretch")
right.plotly_chart(plots.prediction_histogram({"rf": rf, "tf": tf}, limit.ppb, trusted), width="stretch")
for b, ppb in (("rf", rf), ("tf", tf)):
    if note := plots.left_out_note(int(np.isfinite(ppb).sum()), int(trusted[b].sum())):
        right.caption(f"{b.upper()}: {note}")
