"""Real-Time Monitor: the stream's live output (bids, alerts, active auctions) and the pipeline's health.

The live part is an ``st.fragment`` that reruns itself every few seconds (no page reload). It reads bronze --
what the stream worker has written, not only gold -- and anchors "the last hour" at the newest bid written, so
a lake filled earlier still shows its last hour; the caption says how old that is.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from app.dashboards import widgets as w
from app.dashboards.data import live_day, load, source, status_file

TITLE = "Real-Time Monitor"
RUN_EVERY_S = 5
NEWEST_ALERTS = 15


def page() -> None:
    st.title(TITLE)
    empty = w.lake_is_empty()
    live(empty)


@st.fragment(run_every=RUN_EVERY_S)
def live(empty: bool = False) -> None:
    now = dt.datetime.now(dt.UTC)
    if not empty:
        stream(now)
    health(now)
    st.caption(f"Refreshes every {RUN_EVERY_S} s; last refresh {now:%H:%M:%S} UTC.")


def stream(now: dt.datetime) -> None:
    newest = w.got(load("live_newest", live=True, day=live_day()))
    if newest is None:
        return
    anchor = newest.iloc[0]["newest"]
    if pd.isna(anchor):
        st.info("The stream has written no bid yet: `python -m app run` streams them.")
        return
    anchor = pd.Timestamp(anchor).to_pydatetime()
    since = anchor - dt.timedelta(hours=1)
    scored = source().live_source == "scored"
    age = now - anchor
    st.caption(
        f"The last hour of stream output, up to the newest bid at {anchor:%Y-%m-%d %H:%M:%S} UTC "
        f"({_age(age)} ago). Reading bronze {'bids-scored' if scored else 'bids (nothing scored yet)'} and "
        "fraud-alerts as the stream writes them."
    )
    bids = w.got(load("live_bids_minutes", live=True, since=since))
    alerts = w.got(load("live_alerts_minutes", live=True, since=since))
    active = w.got(load("live_active_auctions", live=True, at=anchor))
    cols = st.columns(4)
    cols[0].metric("Active auctions", w.count(active.iloc[0]["active_auctions"]) if active is not None else "—")
    cols[1].metric("Bids, last hour", w.count(bids.bids.sum()) if bids is not None else "—")
    cols[2].metric("Flagged bids, last hour", w.count(bids.flagged_bids.sum()) if bids is not None and scored else "—")
    cols[3].metric("Alerts, last hour", w.count(alerts.alerts.sum()) if alerts is not None else "—")
    left, right = st.columns(2)
    with left:
        if bids is not None:
            per_minute = bids.melt(
                id_vars="minute", value_vars=["bids", "flagged_bids"], var_name="kind", value_name="count"
            )
            w.chart(
                per_minute,
                "line",
                "minute",
                "count",
                "Bids per minute, last hour (bids)",
                "minute (UTC)",
                "bids per minute",
                color="kind",
                x_type="T",
            )
    with right:
        if alerts is not None:
            w.chart(
                alerts,
                "bar",
                "minute",
                "alerts",
                "Fraud alerts per minute, last hour (alerts)",
                "minute (UTC)",
                "alerts per minute",
                x_type="T",
            )
    st.subheader("Newest fraud alerts")
    newest_alerts = w.got(load("live_alerts_newest", live=True, limit=NEWEST_ALERTS))
    if newest_alerts is not None:
        w.table(newest_alerts)


def health(now: dt.datetime) -> None:
    st.subheader("Pipeline health")
    status, path = status_file()
    last = w.got(load("runs_last_batch", live=True))
    cols = st.columns(4)
    if last is not None and not last.empty:
        row = last.iloc[0]
        ended = pd.Timestamp(row["end_time"]).to_pydatetime()
        cols[0].metric("Last batch", f"{row['job']}: {row['status']}", help=f"ended {ended:%Y-%m-%d %H:%M:%S} UTC")
        cols[1].metric("Last batch age", _age(now - ended))
        if row["status"] != "success" and row["error"]:
            st.text(f"last batch error: {row['error']}")
    elif last is not None:
        cols[0].metric("Last batch", "none yet")
    if status is None:
        st.info(
            f"No running `python -m app run` (no status file at {path}): workers and lag are known only while it runs."
        )
        return
    workers = status.get("workers", [])
    alive = sum(1 for worker in workers if worker.get("alive"))
    lags = status.get("lag", {})
    cols[2].metric("Workers alive", f"{alive} / {len(workers)}")
    cols[3].metric("Consumer lag", w.count(sum(lags.values())), help="Messages produced but not yet committed")
    updated = pd.Timestamp(status.get("updated_at")).to_pydatetime() if status.get("updated_at") else None
    if updated is not None:
        st.caption(f"Status of `run` (pid {status.get('pid')}) updated {_age(now - updated)} ago.")
    if lags:
        frame = pd.DataFrame({"partition": list(lags), "lag": list(lags.values())})
        w.chart(
            frame,
            "bar",
            "partition",
            "lag",
            "Consumer lag per partition (messages)",
            "topic/partition",
            "messages behind",
        )


def _age(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
