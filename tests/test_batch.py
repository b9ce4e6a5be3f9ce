"""The batch job end to end on a local lake: counts that add up, quarantine with rule names,
idempotent days (byte-identical re-runs), days that reference other days, the command line.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from bronze_rows import DAY, at, auction, bid, marketplace, scored, user, write_bronze

from app.batch import run_batch
from app.cli import main
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings

NEXT = DAY + dt.timedelta(days=1)


def _seed(lake: Lake, extra_bids: list[dict[str, Any]] | None = None) -> None:
    world = marketplace()
    world["users"].append(user("bad", country="usa"))
    world["bids"] += extra_bids or []
    for topic, rows in world.items():
        write_bronze(lake, topic, DAY, rows)
    write_bronze(lake, "bids-scored", DAY, [scored(r, 0.9 if r["bid_id"] == "x1" else 0.1) for r in world["bids"]])


def _lake_files(lake_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(lake_dir)): p.read_bytes()
        for p in sorted(lake_dir.rglob("*.parquet"))
        if not str(p.relative_to(lake_dir)).startswith("bronze")
    }


DEFECTS = [
    bid("x1", "a1", "b1", "11.00", bid_time=at(1), _offset=900_001),  # replayed copy of x1: duplicate
    bid("neg", "a1", "b1", "-5.00"),
    bid("cur", "a1", "b1", currency="XYZ"),
    bid("ghost", "nope", "b1"),
    bid("late", "a1", "b1", bid_time=at(11)),
    bid("low", "a1", "b1", "9.00"),
    bid("x2", "a1", "b1", "40.00", event_id="another-event", _offset=900_002),  # a second event claiming bid x2
]


def test_batch_reports_every_row_and_quarantines_defects_with_their_rule(settings: Settings, lake_dir: Path) -> None:
    lake = Lake.from_settings(settings)
    _seed(lake, DEFECTS)
    result = run_batch(settings)
    report = {t.table: t for t in result.tables}
    assert all(t.balanced() for t in result.tables)
    bids = report["bids"]
    assert (bids.bronze, bids.silver, bids.duplicates) == (12, 5, 1)
    assert bids.quarantined == {
        "amount_not_positive": 1,
        "unknown_currency": 1,
        "unknown_auction": 1,
        "outside_auction_window": 1,
        "below_start_price": 1,
        "duplicate_bid_id": 1,
    }
    assert report["users"].quarantined == {"bad_country": 1}
    assert (report["auctions"].silver, report["auctions"].superseded) == (3, 2)
    quarantine = pl.read_parquet(lake_dir / f"quarantine/bids/date={DAY}/part-00000.parquet")
    assert sorted(quarantine["bid_id"]) == ["cur", "ghost", "late", "low", "neg", "x2"]
    assert quarantine.filter(pl.col("bid_id") == "x2")["event_id"].to_list() == ["another-event"]
    silver_bids = pl.read_parquet(lake_dir / f"silver/bids/date={DAY}/part-00000.parquet")
    assert silver_bids["bid_id"].to_list() == ["x1", "x2", "x3", "x4", "x5"]
    assert silver_bids.filter(pl.col("bid_id") == "x1")["fraud_score"].to_list() == [0.9]
    assert result.gold["daily_revenue"] == 1
    revenue = pl.read_parquet(lake_dir / "gold/daily_revenue/daily_revenue.parquet")
    assert revenue.row(0, named=True)["gmv"] == Decimal("15.00")


def test_rerunning_a_day_gives_byte_identical_output(settings: Settings, lake_dir: Path) -> None:
    _seed(Lake.from_settings(settings), DEFECTS)
    run_batch(settings, [DAY])
    first = _lake_files(lake_dir)
    run_batch(settings, [DAY])
    assert _lake_files(lake_dir) == first
    assert {k.split("/")[0] for k in first} == {"silver", "quarantine", "gold"}


def test_bids_on_an_auction_opened_another_day_and_a_rerun_replaces_the_day(settings: Settings, lake_dir: Path) -> None:
    lake = Lake.from_settings(settings)
    write_bronze(lake, "users", DAY, [user("s1"), user("b1")])
    write_bronze(lake, "auctions", DAY, [auction("a1", end_time=at(40))])
    bids_file = write_bronze(lake, "bids", NEXT, [bid("late1", bid_time=at(30)), bid("late2", bid_time=at(31))])
    result = run_batch(settings, [NEXT])
    bids = next(t for t in result.tables if t.table == "bids")
    assert (bids.day, bids.bronze, bids.silver) == (NEXT, 2, 2)
    assert (lake_dir / f"silver/auctions/date={DAY}/part-00000.parquet").exists()
    # the day's bronze is gone (e.g. moved away): re-running the day replaces it with nothing
    Path(bids_file).unlink()
    run_batch(settings, [NEXT])
    assert not list((lake_dir / "silver/bids").rglob("*.parquet"))


def test_checks_catch_a_bid_id_reused_across_days_and_orphans_left_by_a_partial_rerun(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    write_bronze(lake, "users", DAY, [user("s1"), user("b1")])
    auctions_file = write_bronze(lake, "auctions", DAY, [auction("a1", end_time=at(40)), auction("a2")])
    write_bronze(lake, "bids", DAY, [bid("x1", "a2")])
    write_bronze(lake, "bids", NEXT, [bid("x1", "a1", event_id="other", bid_time=at(30))])
    assert run_batch(settings).checks == {
        "gold_revenue_reconciles": 0,
        "silver_bids_orphans": 0,
        "silver_bids_unique": 1,  # per-day dedup cannot see across days: the check does
        "sold_auctions_resolved": 0,
    }
    # a1 disappears from bronze; re-running only DAY rebuilds auctions but leaves NEXT's bid on a1
    Path(auctions_file).unlink()
    write_bronze(lake, "auctions", DAY, [auction("a2")])
    result = run_batch(settings, [DAY])
    assert result.checks["silver_bids_orphans"] == 1
    assert "check silver_bids_orphans FAILED: 1 rows" in result.lines()[-2]
    # re-running the day with the orphan quarantines it: the checks pass again
    assert run_batch(settings, [NEXT]).checks["silver_bids_orphans"] == 0


def test_batch_command_prints_per_day_lines(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    _seed(Lake.from_settings(settings), DEFECTS)
    monkeypatch.setenv("AUCTION_LAKE_URL", settings.lake_url)
    main(["batch", "--from", str(DAY), "--to", str(NEXT)])
    out = capsys.readouterr().out.splitlines()
    assert f"{DAY} bids         bronze=12 silver=5 quarantined=6" in out[2]
    assert out[4].startswith(f"{NEXT} bids         bronze=0 silver=0")
    assert out[-2].startswith("gold rows: daily_revenue=1 ")
    assert out[-1] == "checks: 4 passed"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--date", "2026-02-30"], "Invalid value for '--date'"),
        (["--from", "2026-11-02"], "needs both --from and --to"),
        (["--date", "2026-11-02", "--to", "2026-11-03"], "not both"),
        (["--from", "2026-11-03", "--to", "2026-11-02"], "is before --from"),
    ],
)
def test_bad_dates_are_usage_errors(argv: list[str], message: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_failure_midway_leaves_whole_files_and_a_rerun_finishes(
    settings: Settings, lake_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(Lake.from_settings(settings), DEFECTS)
    run_batch(settings)
    expected = _lake_files(lake_dir)
    for path in (lake_dir / "gold").rglob("*.parquet"):
        path.unlink()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("connection reset by peer")

    monkeypatch.setattr("pipelines.batch.gold.run_gold", broken)
    with pytest.raises(UserError, match=r"connection reset by peer .*re-run"):
        run_batch(settings)
    assert not [p for p in lake_dir.rglob("*") if p.name.startswith(".")]
    monkeypatch.undo()
    monkeypatch.chdir(lake_dir)
    run_batch(settings)
    assert _lake_files(lake_dir) == expected
