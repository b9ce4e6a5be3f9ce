"""Auction Performance: success rate, bids per auction, price increase, hours to first bid, sniping, by category."""

from __future__ import annotations

import streamlit as st

from app.dashboards import widgets as w
from app.dashboards.data import load

TITLE = "Auction Performance"


def page() -> None:
    st.title(TITLE)
    filters = w.auction_filters("perf", "No auctions in gold yet: run `python -m app batch`.")
    if filters is None:
        return
    start, end, category = filters
    st.caption(f"Auctions closing {start} to {end} (UTC), {category or 'all categories'}.")
    per = w.got(load("perf_categories", start=start, end=end, category=category))
    if per is not None and not per.empty:
        closed, sold = per.auctions_closed.sum(), per.auctions_sold.sum()
        cols = st.columns(4)
        cols[0].metric("Auctions closed", w.count(closed))
        cols[1].metric("Success rate", w.percent(sold / closed if closed else None))
        weights = per.auctions_closed
        cols[2].metric("Bids per auction", f"{(per.avg_bids_per_auction * weights).sum() / max(weights.sum(), 1):.1f}")
        cols[3].metric(
            "Sniping share",
            w.percent((per.sniping_share * weights).sum() / max(weights.sum(), 1)),
            help="Share of bids placed in the last 5 % of an auction's duration",
        )
        left, right = st.columns(2)
        with left:
            w.chart(
                per,
                "bar",
                "category",
                "success_rate",
                "Success rate by category (sold / closed)",
                "category",
                "success rate (share of closed auctions)",
            )
        with right:
            increase = per.melt(
                id_vars="category",
                value_vars=["median_price_increase_pct", "mean_price_increase_pct"],
                var_name="statistic",
                value_name="pct",
            )
            increase["statistic"] = increase["statistic"].map(
                {"median_price_increase_pct": "median", "mean_price_increase_pct": "mean"}
            )
            w.chart(
                increase,
                "bar",
                "category",
                "pct",
                "Price increase over the start price (%)",
                "category",
                "increase (%)",
                color="statistic",
            )
        left, right = st.columns(2)
        with left:
            w.chart(
                per, "bar", "category", "avg_hours_to_first_bid", "Hours to the first bid (mean)", "category", "hours"
            )
        with right:
            w.chart(
                per,
                "bar",
                "category",
                "sniping_share",
                "Sniping: bids in the last 5 % of the auction (share)",
                "category",
                "share of bids",
            )
        w.table(per, shares=("success_rate", "sniping_share"))
    elif per is not None:
        st.info("No auction closed in this period and category.")
    histogram = w.got(load("perf_bids_histogram", start=start, end=end, category=category))
    if histogram is not None and not histogram.empty:
        w.chart(
            histogram,
            "bar",
            "bids",
            "auctions",
            "Bids per closed auction (50 = 50 or more)",
            "bids on the auction",
            "auctions",
            x_type="O",
        )
