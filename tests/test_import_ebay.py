"""`import --format ebay`: the public online-auctions CSV becomes users, auctions and bids in bronze."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.contracts import bronze_schema
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake, parse_bronze_file_name
from pipelines.infra.settings import Settings
from pipelines.ingest.ebay import EBAY_COLUMNS, translate
from pipelines.ingest.files import DEFAULT_START, run_import
from pipelines.ingest.read import Reject, is_missing

DATA = Path(__file__).parent / "data"
SAMPLE = str(DATA / "ebay_sample.csv")
MALFORMED = str(DATA / "ebay_malformed.csv")
UTC = dt.UTC


def _bronze(settings: Settings, topic: str) -> list[dict[str, object]]:
    lake = Lake.from_settings(settings)
    files = lake.list_files(f"bronze/{topic}")
    return ds.dataset(files, filesystem=lake.fs, format="parquet").to_table().to_pylist()


def test_sample_becomes_auctions_users_and_bids(settings: Settings) -> None:
    report = run_import(settings, SAMPLE, "ebay", start=dt.date(2026, 3, 2))

    assert report.rows_read == 30
    assert report.imported == {"users": 17, "auctions": 6, "bids": 30}
    assert report.rejects == [] and report.quarantine_file is None
    closed = {a["auction_id"]: a for a in _bronze(settings, "auctions") if a["status"] == "closed"}
    opening = dt.datetime(2026, 3, 2, tzinfo=UTC)
    assert {
        k: (a["winner_id"], a["final_price"], a["category"], a["end_time"] - a["start_time"]) for k, a in closed.items()
    } == {
        "ebay:1638893549": ("ebay:eli.flint@flightsafety.co", Decimal("177.50"), "Cartier wristwatch", dt.timedelta(3)),
        "ebay:3020530019": ("ebay:jjcsales", Decimal("280.00"), "Palm Pilot M515 PDA", dt.timedelta(7)),
        # the highest bid (125 by a bidder with a blank rating) wins even though it came before 118.5
        "ebay:8212145833": ("ebay:sonnyboy1", Decimal("120.01"), "Xbox game console", dt.timedelta(5)),
    }
    assert all(a["start_time"] == opening and a["currency"] == "USD" for a in closed.values())
    assert closed["ebay:8212145833"]["start_price"] == Decimal("39.99")

    bids = _bronze(settings, "bids")
    first = next(b for b in bids if b["bidder_id"] == "ebay:schadenfreud" and b["amount"] == Decimal("175.00"))
    assert first["bid_time"] == opening + dt.timedelta(milliseconds=round(2.230949 * 86_400_000))
    assert first["auction_id"] == "ebay:1638893549" and first["_broker_run"] == report.run
    assert len({b["bid_id"] for b in bids}) == len({b["event_id"] for b in bids}) == 30

    users = {u["user_id"]: u for u in _bronze(settings, "users")}
    assert users["ebay:cwhite48"]["rating"] == 142 and users["ebay:sonnyboy1"]["rating"] is None  # blank: unknown
    assert users["ebay:kiwisstuff"]["is_seller"] is False  # bid in two auctions, one user
    sellers = [u for u in users.values() if u["is_seller"]]
    assert sorted(u["user_id"] for u in sellers) == [
        f"ebay-seller:{a}" for a in ("1638893549", "3020530019", "8212145833")
    ]
    assert {a["seller_id"] for a in closed.values()} == {u["user_id"] for u in sellers}


def test_bronze_files_follow_the_layout_and_schema(settings: Settings) -> None:
    report = run_import(settings, SAMPLE, "ebay")
    lake = Lake.from_settings(settings)
    for topic in ("users", "auctions", "bids"):
        files = lake.list_files(f"bronze/{topic}")
        assert files
        offsets = []
        for path in files:
            run, partition, first, last = parse_bronze_file_name(path)
            table = pq.read_table(path)
            assert run == report.run and partition == 0
            assert table.schema.equals(bronze_schema(topic))
            assert table.column("_offset").to_pylist() == list(range(first, last + 1))
            day = path.split("date=")[1].split("/")[0]
            assert {t.date().isoformat() for t in table.column("event_time").to_pylist()} == {day}
            offsets += list(range(first, last + 1))
        assert sorted(offsets) == list(range(report.imported[topic]))
    bids = _bronze(settings, "bids")
    assert min(b["bid_time"] for b in bids).date() == DEFAULT_START


def test_reimport_rewrites_the_same_files(settings: Settings) -> None:
    first = run_import(settings, SAMPLE, "ebay")
    before = {t: sorted(_without_ingest(_bronze(settings, t))) for t in ("users", "auctions", "bids")}
    second = run_import(settings, SAMPLE, "ebay")
    assert second.run == first.run and second.files == first.files
    after = {t: sorted(_without_ingest(_bronze(settings, t))) for t in ("users", "auctions", "bids")}
    assert after == before
    other = run_import(settings, SAMPLE, "ebay", start=dt.date(2025, 6, 1))
    assert other.run != first.run


def _without_ingest(rows: list[dict[str, object]]) -> list[str]:
    return [repr(sorted((k, v) for k, v in row.items() if k != "_ingest_time")) for row in rows]


def test_malformed_rows_are_quarantined_and_good_rows_land(settings: Settings) -> None:
    report = run_import(settings, MALFORMED, "ebay")

    assert report.rows_read == 11
    assert report.imported["bids"] == 6 and report.imported["auctions"] == 4
    assert report.imported["bids"] + len(report.rejects) == report.rows_read  # none vanish
    assert [(r.row, r.rule) for r in report.rejects] == [
        (3, "bad_number"), (4, "bad_date"), (5, "negative_amount"), (6, "outside_window"), (8, "bad_row"),
    ]  # fmt: skip
    # row 7's blank bidder is the auction's hidden bidder; row 9's rating "zero" is unknown, row 10's price
    # and row 11's auction_type are the auction's, which keeps its other rows' (177.5, 7 days): the bids land
    assert "ebay-anon:1638893549" in {b["bidder_id"] for b in _bronze(settings, "bids")}
    assert [row for row, _ in report.notes] == [9, 10, 11] and "'zero'" in report.notes[0][1]
    closed = {a["auction_id"]: a for a in _bronze(settings, "auctions") if a["status"] == "closed"}
    assert closed["ebay:1638893549"]["final_price"] == Decimal("177.50")
    assert closed["ebay:3020530019"]["end_time"] - closed["ebay:3020530019"]["start_time"] == dt.timedelta(7)
    assert f"{MALFORMED} row 9: bidderrate: not a whole number (got 'zero')" in "\n".join(report.problems())
    assert "bid: not a number (got 'abc')" in report.rejects[0].reason
    assert report.quarantine_file is not None and "quarantine/import/date=" in report.quarantine_file
    stored = pq.read_table(report.quarantine_file).to_pylist()
    assert [(r["row"], r["rule"], r["source"]) for r in stored] == [
        (r.row, r.rule, "ebay_malformed.csv") for r in report.rejects
    ]
    assert '"abc"' in stored[0]["raw"]
    problems = list(report.problems())
    assert problems[0] == f"{MALFORMED} row 3: bid: not a number (got 'abc') [bad_number]"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        (",".join(EBAY_COLUMNS) + "\n", "no data rows"),
        ("auctionid,bid,bidtime\n1,2,3\n", "row 1: wrong columns: missing bidder, bidderrate"),
    ],
)
def test_unreadable_files_are_one_user_error(settings: Settings, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as caught:
        run_import(settings, str(path), "ebay")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert not Lake.from_settings(settings).list_files("bronze")


def test_ebay_columns_without_the_flag_say_which_format(settings: Settings) -> None:
    with pytest.raises(UserError, match="pass --format ebay"):
        run_import(settings, SAMPLE)


_GOOD = {"auctionid": ["1", "2"], "bid": ["10", "12.5"], "bidtime": ["0.5", "2.75"], "bidder": ["ann", "bob"],
         "bidderrate": ["3", ""], "openbid": ["1"], "price": ["12.5"], "item": ["Xbox"],
         "auction_type": ["3 day auction", "7 day auction"]}  # fmt: skip
_JUNK = st.one_of(st.text(max_size=8), st.sampled_from(["-1", "0", "1.234", "NaN", "inf", "1e400", "9 days"]))
_ROW = st.fixed_dictionaries({c: st.one_of(st.sampled_from(_GOOD[c]), st.sampled_from(_GOOD[c]), _JUNK)
                              for c in EBAY_COLUMNS})  # fmt: skip


@given(st.lists(_ROW, max_size=12))
def test_every_row_becomes_one_bid_or_one_reject(rows: list[dict[str, str]]) -> None:
    result = translate(enumerate(rows, start=2), dt.datetime(2026, 1, 5, tzinfo=UTC))
    assert len(result.events["bids"]) + len(result.rejects) == len(rows)
    assert all(isinstance(r, Reject) and r.reason for r in result.rejects)
    auctions = {a.auction_id for a in result.events["auctions"]}
    assert {b.auction_id for b in result.events["bids"]} <= auctions
    users = {u.user_id for u in result.events["users"]}
    assert {b.bidder_id for b in result.events["bids"]} <= users
    named = {r["auctionid"].strip() for r in rows}
    named = {f"ebay:{a}" for a in named if not is_missing(a) and len(a) <= 40}
    assert auctions == named  # every auction the file names lands, even without a valid bid
