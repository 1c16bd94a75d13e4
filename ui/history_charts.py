"""The History page's two small charts: pushes per day by outcome, and records per provider.

Both are drawn from ``GROUP BY`` queries (``service.history``): a handful of rows per day and provider
whatever the number of runs. They follow the page's filters but count real pushes only: a dry run
writes nothing, so its "would create" numbers would inflate what was actually done.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from service import history
from service.connections import PROVIDER_LABELS
from service.context import AppContext
from service.history import DayOutcome, ProviderTotals, RunFilters
from ui.history_runs import STATE_COLORS

CHART_HEIGHT = 260  # the whole chart: Streamlit fits title, axes and legend into it
MEASURES = {"created": "#21c354", "updated": "#1c83e1", "failed": "#ff4b4b"}


def charts(ctx: AppContext, filters: RunFilters) -> None:
    """Both charts side by side, or a line saying why there are none."""
    if filters.dry_run is True:
        st.caption("The charts count real pushes; the list below shows dry runs only.")
        return
    days = history.outcomes_by_day(ctx, filters)
    if not days:
        st.caption("No real push matches these filters yet, so there is nothing to chart.")
        return
    totals = history.totals_by_provider(ctx, filters)
    left, right = st.columns(2, gap="large")
    left.altair_chart(outcomes_chart(days), key="history_chart_outcomes")
    right.altair_chart(providers_chart(totals), key="history_chart_providers")


def outcomes_frame(days: Sequence[DayOutcome]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": [d.day.isoformat() for d in days],
            "outcome": [d.state for d in days],
            "pushes": [d.runs for d in days],
        }
    )


def every_day(days: Sequence[DayOutcome]) -> list[str]:
    """Each day from the first to the last push, so a day without pushes shows as a gap."""
    first, last = min(d.day for d in days), max(d.day for d in days)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def outcomes_chart(days: Sequence[DayOutcome]) -> alt.Chart:
    """Stacked bars, one a day (UTC), coloured by how each push ended."""
    present = {d.state for d in days}
    states = [state for state in STATE_COLORS if state in present]  # a legend of what is there
    return (
        alt.Chart(outcomes_frame(days), title="Pushes per day, by outcome")
        .mark_bar()
        .encode(
            x=alt.X(
                "day:O",
                title=None,
                scale=alt.Scale(domain=every_day(days)),
                # ISO days read as UTC midnight: formatted in UTC, so no browser shifts them a day
                axis=alt.Axis(labelExpr="utcFormat(toDate(datum.value), '%b %d')", labelAngle=0),
            ),
            y=alt.Y("sum(pushes):Q", title="Pushes", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color(
                "outcome:N",
                title=None,
                scale=alt.Scale(domain=states, range=[STATE_COLORS[state] for state in states]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("day:O", title="Day (UTC)"),
                alt.Tooltip("outcome:N", title="Outcome"),
                alt.Tooltip("sum(pushes):Q", title="Pushes"),
            ],
        )
        .properties(height=CHART_HEIGHT)
    )


def providers_frame(totals: Sequence[ProviderTotals]) -> pd.DataFrame:
    """One row per provider, object and measure (created, updated, failed)."""
    return pd.DataFrame(
        [
            {
                "target": f"{PROVIDER_LABELS.get(t.provider, t.provider)} {t.object_name}",
                "measure": measure,
                "records": getattr(t, measure),
            }
            for t in totals
            for measure in MEASURES
        ],
        columns=["target", "measure", "records"],
    )


def providers_chart(totals: Sequence[ProviderTotals]) -> alt.Chart:
    """Grouped bars: records created, updated and failed, per provider and object."""
    return (
        alt.Chart(providers_frame(totals), title="Records created, updated and failed, per provider")
        .mark_bar()
        .encode(
            x=alt.X("target:N", title=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("measure:N", sort=list(MEASURES)),
            y=alt.Y("records:Q", title="Records"),
            color=alt.Color(
                "measure:N",
                title=None,
                scale=alt.Scale(domain=list(MEASURES), range=list(MEASURES.values())),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("target:N", title="Provider"),
                alt.Tooltip("measure:N", title="Records"),
                alt.Tooltip("records:Q", title="Count", format=","),
            ],
        )
        .properties(height=CHART_HEIGHT)
    )
