"""Fraud: alerted bidders ranked by score -> one bidder's bids and auctions -> an auction's full bid ladder;
and detection precision/recall per planted pattern when the lake holds generated data with labels."""

from __future__ import annotations

import streamlit as st

from app.dashboards import widgets as w
from app.dashboards.data import load

TITLE = "Fraud"
RANKED = 200


def page() -> None:
    st.title(TITLE)
    if w.lake_is_empty():
        return
    bounds = w.got(load("fraud_bounds"))
    if bounds is not None and not int(bounds.iloc[0]["alerts"]):
        st.info(
            "No fraud alert in the lake yet: alerts come from the stream worker (`python -m app run`, or "
            "`python -m app demo`), then `python -m app batch`.",
            icon="📭",
        )
    elif bounds is not None:
        chosen = w.period("fraud", bounds)
        assert chosen is not None
        drill_down(*chosen)
    quality()


def drill_down(start: object, end: object) -> None:
    ranked = w.got(load("fraud_bidders", start=start, end=end, limit=RANKED))
    if ranked is None:
        return
    st.subheader("Alerted bidders, by their highest alert score")
    if ranked.empty:
        st.info("No alert in this period.")
        return
    w.chart(
        ranked.head(20),
        "bar",
        "top_score",
        "bidder_id",
        "Highest alert score of the top 20 bidders (0 to 1)",
        "fraud score (0 to 1)",
        "bidder",
        sort="-x",
    )
    w.table(ranked)
    bidder = st.selectbox(
        "Bidder",
        ranked.bidder_id.tolist(),
        key="fraud_bidder",
        format_func=lambda b: f"{b} (score {ranked.set_index('bidder_id').top_score[b]:.2f})",
    )
    if bidder is None:
        return
    bids = w.got(load("fraud_bidder_bids", bidder=bidder))
    if bids is None:
        return
    st.subheader("The bidder's bids, with each bid's score and reasons")
    st.text(f"bidder {bidder}: {len(bids):,} bids on {bids.auction_id.nunique():,} auctions")
    w.table(bids.drop(columns=["auction_start", "auction_end"]), money=("amount",))
    auctions = bids.dropna(subset=["auction_start"]).drop_duplicates("auction_id")
    if auctions.empty:
        return
    auction = st.selectbox(
        "Auction",
        auctions.auction_id.tolist(),
        key="fraud_auction",
        format_func=lambda a: f"{a} ({auctions.set_index('auction_id').category[a]})",
    )
    window = auctions.set_index("auction_id").loc[auction]
    opened, closes = (window[c].to_pydatetime() for c in ("auction_start", "auction_end"))
    ladder = w.got(load("fraud_ladder", auction=auction, opened=opened, closes=closes))
    if ladder is None or auction is None:
        return
    st.subheader("The auction's full bid ladder")
    ladder["who"] = ladder.bidder_id.where(ladder.bidder_id == bidder, "other bidders")
    w.chart(
        ladder,
        "line",
        "bid_time",
        "amount",
        "Bid ladder of the auction (bid amount, auction currency)",
        "bid time (UTC)",
        "amount (auction currency)",
        color="who",
        x_type="T",
    )
    w.table(ladder.drop(columns="who"), money=("amount",))


def quality() -> None:
    found = w.got(load("fraud_quality"))
    if found is None or found.empty:
        return
    st.subheader("Detection quality, measured on synthetic ground truth")
    st.caption(
        "The generator labels the bids of the fraudsters it plants (`fraud_label`); the scorer never reads "
        "it. Per bidder: recall = labelled bidders with an alert / labelled bidders; alerts name no pattern, "
        "so precision is over all alerted bidders."
    )
    fraudsters, caught = int(found.fraudsters.sum()), int(found.caught.sum())
    cols = st.columns(3)
    cols[0].metric("Precision (all alerted bidders)", w.percent(found.precision.iloc[0]))
    cols[1].metric("Recall (all patterns)", w.percent(caught / fraudsters if fraudsters else None))
    cols[2].metric("Labelled fraudsters", w.count(fraudsters))
    w.chart(
        found,
        "bar",
        "pattern",
        "recall",
        "Recall per planted pattern (share of fraudsters alerted)",
        "pattern",
        "recall (0 to 1)",
    )
    w.table(found, shares=("recall", "precision"))
