"""Executive Summary: GMV and fees per day, transactions, active auctions, top categories, vs the previous period."""

from __future__ import annotations

import streamlit as st

from app.dashboards import widgets as w
from app.dashboards.data import load

TITLE = "Executive Summary"


def page() -> None:
    st.title(TITLE)
    filters = w.auction_filters("exec", "No closed auctions in gold yet: run `python -m app batch`.")
    if filters is None:
        return
    start, end, category = filters
    prev_start, prev_end = w.previous(start, end)
    st.caption(
        f"Auctions closing {start} to {end} (UTC), {category or 'all categories'}; changes against "
        f"{prev_start} to {prev_end}. Money in USD at the reference rates."
    )
    totals = w.got(
        load("exec_totals", start=start, end=end, prev_start=prev_start, prev_end=prev_end, category=category)
    )
    if totals is not None:
        now, before = (totals.set_index("period").loc[p] for p in ("current", "previous"))
        cols = st.columns(5)
        cols[0].metric("GMV", w.usd(now.gmv_usd, cents=False), w.change(now.gmv_usd, before.gmv_usd))
        cols[1].metric("Fees", w.usd(now.fees_usd, cents=False), w.change(now.fees_usd, before.fees_usd))
        cols[2].metric("Transactions", w.count(now.transactions), w.change(now.transactions, before.transactions))
        cols[3].metric(
            "Auctions closed", w.count(now.auctions_closed), w.change(now.auctions_closed, before.auctions_closed)
        )
        cols[4].metric(
            "Active auctions", w.count(now.active_auctions), w.change(now.active_auctions, before.active_auctions)
        )
    daily = w.got(load("exec_daily", start=start, end=end, category=category))
    if daily is not None:
        money = daily.melt(id_vars="date", value_vars=["gmv_usd", "fees_usd"], var_name="measure", value_name="usd")
        money["measure"] = money["measure"].map({"gmv_usd": "GMV", "fees_usd": "fees"})
        left, right = st.columns(2)
        with left:
            w.chart(
                money,
                "bar",
                "date",
                "usd",
                "GMV and fees per day (USD)",
                "day (UTC)",
                "USD",
                color="measure",
                x_type="T",
            )
        with right:
            w.chart(
                daily,
                "line",
                "date",
                "transactions",
                "Transactions per day (sold auctions)",
                "day (UTC)",
                "transactions",
                x_type="T",
            )
    categories = w.got(load("exec_categories", start=start, end=end, category=category))
    if categories is not None:
        top = categories.head(10)
        w.chart(top, "bar", "gmv_usd", "category", "Top categories by GMV (USD)", "GMV (USD)", "category", sort="-x")
        w.table(top, money=("gmv_usd",))
