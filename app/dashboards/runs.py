"""Pipeline Runs: ``ops.job_runs`` -- each job's runs over time, their durations, and the failures with their error."""

from __future__ import annotations

import streamlit as st

from app.dashboards import widgets as w
from app.dashboards.data import load

TITLE = "Pipeline Runs"


def page() -> None:
    st.title(TITLE)
    bounds = w.got(load("runs_bounds"))
    if bounds is None:
        return
    if not int(bounds.iloc[0]["runs"]):
        st.info(
            "No job has run yet. Jobs are recorded in `ops.job_runs` by `python -m app batch`, "
            "`python -m app compact` and the scheduler of `python -m app run`.",
            icon="📭",
        )
        return
    chosen = w.period("runs", bounds)
    assert chosen is not None
    start, end = chosen
    runs = w.got(load("runs_history", start=start, end=end))
    if runs is None:
        return
    jobs = sorted(runs.job.dropna().unique())
    picked = st.sidebar.multiselect("Jobs", jobs, default=jobs, key="runs_jobs")
    runs = runs[runs.job.isin(picked)]
    failed = runs[runs.status != "success"]
    cols = st.columns(4)
    cols[0].metric("Runs", w.count(len(runs)))
    cols[1].metric("Failed", w.count(len(failed)))
    cols[2].metric("Jobs", w.count(runs.job.nunique()))
    cols[3].metric("Median duration", f"{runs.duration_s.median():.1f} s" if len(runs) else "—")
    if runs.empty:
        st.info("No run of these jobs in this period.")
        return
    w.chart(
        runs,
        "point",
        "start_time",
        "job",
        "Runs per job over time (coloured by status)",
        "start time (UTC)",
        "job",
        color="status",
        x_type="T",
    )
    w.chart(
        runs,
        "line",
        "start_time",
        "duration_s",
        "Run durations (seconds)",
        "start time (UTC)",
        "seconds",
        color="job",
        x_type="T",
    )
    st.subheader("Failures")
    if failed.empty:
        st.success("No failed run in this period.")
    else:
        w.table(failed[["start_time", "job", "trigger", "attempt", "status", "error"]])
    st.subheader("Every run")
    w.table(runs)
