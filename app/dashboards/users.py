"""User Analytics: bidder segments, win rates, new vs returning bidders, countries, top bidders and sellers."""

from __future__ import annotations

import streamlit as st

from app.dashboards import widgets as w
from app.dashboards.data import load

TITLE = "User Analytics"
TOP = 20


def page() -> None:
    st.title(TITLE)
    if w.lake_is_empty():
        return
    chosen = w.period("users", w.bounds_load("users_bounds"))
    if chosen is None:
        st.info("No bids in gold yet: run `python -m app batch`.")
        return
    start, end = chosen
    st.caption(
        f"Bidders active {start} to {end} (UTC): first bid before its end, last bid after its start. "
        "Bidders span categories, so this page has no category filter."
    )
    segments = w.got(load("users_segments", start=start, end=end))
    if segments is not None:
        cols = st.columns(3)
        cols[0].metric("Active bidders", w.count(segments.bidders.sum()))
        cols[1].metric("Bids", w.count(segments.bids.sum()))
        cols[2].metric("Spend (auctions won)", w.usd(segments.spend_usd.sum(), cents=False))
    left, right = st.columns(2)
    with left:
        if segments is not None:
            w.chart(segments, "bar", "segment", "bidders", "Bidders per segment (bidders)", "segment", "bidders")
    with right:
        rates = w.got(load("users_win_rate", start=start, end=end))
        if rates is not None:
            w.chart(
                rates,
                "bar",
                "win_rate_pct",
                "bidders",
                "Win rate of bidders (auctions won / bid on, %)",
                "win rate (%, bucket start)",
                "bidders",
                x_type="O",
            )
    left, right = st.columns(2)
    with left:
        newcomers = w.got(load("users_new_returning", start=start, end=end))
        if newcomers is not None:
            both = newcomers.melt(
                id_vars="date", value_vars=["new_bidders", "returning_bidders"], var_name="bidders", value_name="count"
            )
            both["bidders"] = both["bidders"].map({"new_bidders": "new", "returning_bidders": "returning"})
            w.chart(
                both,
                "bar",
                "date",
                "count",
                "New vs returning bidders per day (bidders)",
                "day (UTC)",
                "bidders",
                color="bidders",
                x_type="T",
            )
    with right:
        countries = w.got(load("users_countries", start=start, end=end))
        if countries is not None:
            w.chart(
                countries.head(15),
                "bar",
                "bidders",
                "country",
                "Bidders by country (top 15, bidders)",
                "bidders",
                "country (ISO 3166)",
                sort="-x",
            )
    st.subheader(f"Top {TOP} bidders by spend")
    bidders = w.got(load("users_top_bidders", start=start, end=end, limit=TOP))
    if bidders is not None:
        w.table(bidders, money=("total_spend_usd",), shares=("win_rate",))
    st.subheader(f"Top {TOP} sellers by GMV (all time)")
    sellers = w.got(load("users_top_sellers", limit=TOP))
    if sellers is not None:
        w.table(sellers, money=("gmv_usd", "avg_final_price_usd"), shares=("flagged_bid_share",))
