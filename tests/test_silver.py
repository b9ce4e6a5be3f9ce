"""Silver transforms: state tables, auction results, bids with scores, and properties at the seam.

Properties (Hypothesis): for any bronze bids — with duplicated events, colliding bid ids and seeded
defects — every row ends up in exactly one of silver / quarantine / duplicates, silver has no
duplicate ids, and classification is idempotent (the same bronze, in any order, gives the same silver).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
from bronze_rows import at, auction, bid, closed, frame, scored, user
from hypothesis import given
from hypothesis import strategies as st

from pipelines.batch import silver

USER_IDS = pl.Series("user_id", ["s1", "s2", "b1", "b2"])


def _fates(lf: pl.LazyFrame) -> pl.DataFrame:
    return silver.fates(lf.with_columns(pl.lit(None, pl.Date).alias("_bronze_date"))).collect()


def _by(frame_: pl.DataFrame, key: str, column: str) -> dict[Any, Any]:
    return dict(zip(frame_[key], frame_[column], strict=True))


def test_users_newest_valid_event_wins_older_ones_are_superseded() -> None:
    rows = [
        user("u1", event_id="e1", event_time=at(1), city="Old"),
        user("u1", event_id="e2", event_time=at(5), city="New"),
        user("u1", event_id="e3", event_time=at(9), country="usa"),  # newest but invalid: quarantined
        user("u1", event_id="e2", event_time=at(5), city="New", _offset=10_000),  # a replayed copy
    ]
    out = _fates(silver.classify_users(frame("users", rows).lazy()))
    assert sorted(out["_fate"].to_list()) == ["duplicate", "quarantine", "silver", "superseded"]
    assert out.filter(pl.col("_fate") == "silver")["city"].to_list() == ["New"]


def test_auction_close_beats_open_even_when_its_clock_is_earlier() -> None:
    rows = [auction("a1", event_time=at(3)), closed("a1", "b1", "15.00", event_time=at(2))]
    out = _fates(silver.classify_auctions(frame("auctions", rows).lazy(), USER_IDS))
    assert _by(out, "event_id", "_fate") == {"ev-a-a1-open": "superseded", "ev-a-a1-close": "silver"}


def test_auction_referential_rules() -> None:
    rows = [auction("a1", seller_id="nobody"), closed("a2", "nobody", "15.00")]
    out = _fates(silver.classify_auctions(frame("auctions", rows).lazy(), USER_IDS))
    assert _by(out, "auction_id", "_rule") == {"a1": "unknown_seller", "a2": "unknown_winner"}


def test_resolve_auctions_sold_only_when_closed_with_a_winner_at_or_above_reserve() -> None:
    rows = [
        closed("met", "b1", "50.00", reserve_price=Decimal("50.00")),
        closed("below", "b1", "49.99", reserve_price=Decimal("50.00")),
        closed("no_reserve", "b1", "10.00"),
        closed("no_bids", None, None),
        auction("open"),
    ]
    out = silver.resolve_auctions(frame("auctions", rows).lazy()).collect()
    assert _by(out, "auction_id", "sold") == {
        "met": True,
        "below": False,
        "no_reserve": True,
        "no_bids": False,
        "open": False,
    }
    unsold = out.filter(~pl.col("sold"))
    assert unsold["final_price"].null_count() == unsold.height
    assert unsold["winner_id"].null_count() == unsold.height


def _auctions() -> pl.LazyFrame:
    rows = [auction("a1"), auction("a2", currency="EUR", start_time=at(4), end_time=at(20))]
    return silver.resolve_auctions(frame("auctions", rows).lazy())


def test_bids_get_their_fraud_score_and_are_checked_against_auctions_and_users() -> None:
    rows = [
        bid("ok"),
        bid("ghost_auction", auction_id="nope"),
        bid("ghost_bidder", bidder_id="nobody"),
        bid("wrong_currency", auction_id="a2", bid_time=at(5)),
        bid("before_open", auction_id="a2", currency="EUR", bid_time=at(3)),
    ]
    scores = frame("bids-scored", [scored(rows[0], 0.8, ["velocity"])]).lazy()
    out = _fates(silver.classify_bids(frame("bids", rows).lazy(), _auctions(), USER_IDS, scores))
    assert _by(out, "bid_id", "_rule") == {
        "ok": None,
        "ghost_auction": "unknown_auction",
        "ghost_bidder": "unknown_bidder",
        "wrong_currency": "currency_mismatch",
        "before_open": "outside_auction_window",
    }
    assert _by(out, "bid_id", "fraud_score") == {"ok": 0.8, **dict.fromkeys([r["bid_id"] for r in rows[1:]])}
    assert set(silver.silver_columns("bids")) <= set(out.columns)


# ---- properties ---------------------------------------------------------------------------------

bid_rows = st.lists(
    st.fixed_dictionaries(
        {
            "event_id": st.sampled_from(["e0", "e1", "e2", "e3", "e4", "e5", "e6"]),
            "bid_id": st.sampled_from(["x0", "x1", "x2", "x3"]),
            "auction_id": st.sampled_from(["a1", "a2", "ghost"]),
            "bidder_id": st.sampled_from(["b1", "b2", "ghost", None]),
            "amount": st.sampled_from(["-1.00", "0.00", "9.99", "10.00", "25.00"]),
            "currency": st.sampled_from(["USD", "EUR", "XYZ"]),
            "hour": st.sampled_from([-2, 1, 5, 12]),
        }
    ),
    max_size=25,
)


def _bronze(specs: list[dict[str, Any]]) -> pl.DataFrame:
    rows = [
        bid(
            s["bid_id"],
            s["auction_id"],
            s["bidder_id"],
            s["amount"],
            event_id=s["event_id"],
            currency=s["currency"],
            bid_time=at(s["hour"]),
            _offset=n,
        )
        for n, s in enumerate(specs)
    ]
    return frame("bids", rows)


def _silver_of(bronze: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = _fates(silver.classify_bids(bronze.lazy(), _auctions(), USER_IDS, None))
    rows = out.filter(pl.col("_fate") == "silver").select(silver.silver_columns("bids"))
    return out, rows


@given(bid_rows)
def test_no_row_lost_no_duplicates_and_idempotent(specs: list[dict[str, Any]]) -> None:
    bronze = _bronze(specs)
    out, rows = _silver_of(bronze)
    assert out.height == bronze.height
    assert set(out["_fate"]) <= {"silver", "quarantine", "duplicate"}
    assert out.filter(pl.col("_fate") == "quarantine")["_rule"].null_count() == 0
    assert rows["bid_id"].is_unique().all()
    assert rows["event_id"].is_unique().all()
    assert out.filter(pl.col("_fate") == "duplicate").height == bronze.height - bronze["event_id"].n_unique()
    # the first copy of each event (in arrival order) is the one kept or quarantined
    firsts = bronze.unique("event_id", keep="first", maintain_order=True)["_offset"].sort().to_list()
    assert out.filter(pl.col("_fate") != "duplicate")["_offset"].sort().to_list() == firsts
    # idempotent: the same bronze again gives the very same silver rows in the same order
    assert _silver_of(bronze)[1].equals(rows)
