"""Monitoring's view of the lab's loop: the screen verified on the lab's results (per decision, model version and
limit, over the page's window) and the check samples' control charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from don_predictor import plots
from don_predictor.config import BACKENDS, Settings
from don_predictor.lab.check_samples import check_sample_series, latest_violations
from don_predictor.lab.verification import (
    ALARM,
    NOT_SHOWN,
    OK,
    TOO_FEW,
    lab_outcomes,
    verification_stats,
    worklist_runs,
)
from don_predictor.plain_text import markdown_literal
from don_predictor.scoring.run import JOINT
from don_predictor.trust.limits import get_limit

SAY = {ALARM: st.error, TOO_FEW: st.info, NOT_SHOWN: st.warning, OK: st.success}


def verification_panel(config: Settings, days: int) -> None:
    st.subheader("Screening verified by the lab")
    since = datetime.now(UTC) - timedelta(days=days)
    db = config.history_db
    found = verification_stats(lab_outcomes(db, since), config.false_compliant_rate, worklist_runs(db, since))
    if not found:
        st.caption(
            "No lab result for a run of this window yet. Each run's worklist (downloaded with its results) lists "
            "the samples sent to the lab and a random share of the cleared ones; their values come back on the Lab "
            "results page."
        )
        return
    st.caption(
        "The false-compliant rate is the share of truly-above samples the screen cleared; the screen promises at "
        f"most {config.false_compliant_rate:.0%} (EU 519/2014). It is estimated from the cleared (`below`) samples "
        "drawn at random for verification and measured by the lab, beside the truly-above samples it did not clear. "
        "Bounds are one-sided 95 % Clopper–Pearson."
    )
    for item in sorted(found, key=lambda v: (v.state != ALARM, v.decided_by, v.limit_ppb)):
        who = "BOTH" if item.decided_by == JOINT else item.decided_by.upper()
        head = f"**{who}** ({markdown_literal(item.model_version)}) at {_limit_label(item.limit_key)}"
        SAY[item.state](f"{head}: {markdown_literal(item.message.rstrip('.'))}.")
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("verified cleared", item.verified, help=_needed(item))
        c2.metric("truly above", item.truly_above, help=_rate(item))
        c3.metric(
            "above calls confirmed",
            f"{item.above_confirmed} of {item.above_calls}" if item.above_calls else "—",
            help="`above` verdicts the lab measured above the limit",
        )
        c4.metric(
            "send_to_lab error (MAE)",
            f"{item.sent_mae_ppb:,.0f} ppb" if item.sent_mae_ppb is not None else "—",
            help=f"of {item.sent_to_lab} samples sent to the lab"
            + (f"; bias {item.sent_bias_ppb:+,.0f} ppb" if item.sent_bias_ppb is not None else ""),
        )
        if item.cleared_lab_choice:
            st.caption(
                f"{item.cleared_lab_choice} more cleared samples were measured on the lab's own choice "
                f"({item.cleared_lab_choice_above} above): not a random draw, so not in the rate."
            )
        if not item.series.empty:
            st.plotly_chart(
                plots.verification_chart(item.series, item.alpha, f"{who} at {item.limit_ppb:,.0f} ppb"),
                width="stretch",
                key=f"verified_{item.decided_by}_{item.model_version}_{item.limit_key}",
            )


def check_samples_panel(config: Settings, days: int) -> None:
    st.subheader("Check samples")
    pattern = config.check_sample_pattern
    if not pattern:
        st.caption("No check-sample pattern is set (DON_CHECK_SAMPLE_PATTERN, a glob on the sample id such as QC-*).")
        return
    since = datetime.now(UTC) - timedelta(days=days)
    st.caption(
        f"Samples whose id matches {markdown_literal(pattern)}, against their running mean and SD "
        "(Westgard rules 1-3s, 2-2s, R-4s, 10x; the first ten build the baseline)."
    )
    shown = False
    for backend in BACKENDS:
        chart = check_sample_series(config.history_db, pattern, backend, since)
        if chart.empty:
            continue
        shown = True
        if broken := latest_violations(chart):
            st.error(f"{backend.upper()}: the newest check sample breaks {', '.join(broken)}: check the instrument.")
        st.plotly_chart(plots.check_sample_chart(chart, backend.upper()), width="stretch", key=f"check_{backend}")
    if not shown:
        st.caption("No check sample was scored in this window.")


def _rate(item) -> str:
    return f"estimated false-compliant rate {item.rate:.1%}" if item.rate is not None else "nothing to say yet"


def _needed(item) -> str:
    if item.needed == float("inf"):
        return "No truly-above sample is confirmed yet: no number of verified samples alone can show the rate."
    return f"{item.needed:,.0f} verified (none above) would show the rate under α"


def _limit_label(key: str) -> str:
    try:
        return markdown_literal(get_limit(key).label)
    except ValueError:
        return markdown_literal(key)
