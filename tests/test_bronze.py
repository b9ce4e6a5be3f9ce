"""The bronze sink's exactly-once rules, without a broker: replays after a crash rewrite, never duplicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipelines.contracts import Bid, bronze_schema
from pipelines.infra.lake import Lake, parse_bronze_file_name
from pipelines.infra.settings import Settings
from pipelines.stream.bronze import BronzeSink, epoch_day
from pipelines.stream.graph import scored_value
from tests.test_stream_support import T0, Clock, bid

RUNS = {"users": "runusers", "auctions": "runauctions", "bids": "runbids"}
DAY = 86_400_000


def _feed(sink: BronzeSink, offsets: range, day_of: Any = None, partition: int = 0) -> None:
    for offset in offsets:
        t = T0 + (day_of(offset) if day_of else 0) * DAY + offset
        value = bid(offset, 1, 20, t, 1000 + offset)[2] or b""
        buffer = sink.note("bids", partition, offset)
        buffer.add_json("bids", scored_value(value, 0.0, []), offset, t)


def _offsets(lake: Lake, table: str) -> list[int]:
    files = lake.list_files(f"bronze/{table}")
    if not files:
        return []
    frames = [pl.read_parquet(lake.uri(f.removeprefix(lake.root + "/")) if not lake.is_local else f) for f in files]
    return sorted(pl.concat(frames)["_offset"].to_list())


def _ranges(lake: Lake, table: str) -> list[tuple[int, int]]:
    return sorted(parse_bronze_file_name(p)[2:] for p in lake.list_files(f"bronze/{table}"))


def _bids_landed_once(lake: Lake, count: int, ranges: list[tuple[int, int]]) -> None:
    """Bids and bids-scored hold input offsets 0..count-1 exactly once, in files of exactly these ranges."""
    for table in ("bids", "bids-scored"):
        assert _offsets(lake, table) == list(range(count))
        assert _ranges(lake, table) == ranges


def test_a_crash_after_writing_before_commit_is_replayed_without_duplicates(lake_dir: Path) -> None:
    lake = Lake(str(lake_dir))
    first = BronzeSink(lake, RUNS)
    _feed(first, range(0, 100))
    first.flush()  # checkpoint: offsets 0..99 committed
    _feed(first, range(100, 150))
    first.flush()  # written, then the worker dies before committing offset 150

    replay = BronzeSink(lake, RUNS)  # restarts from the committed offset, 100, and cuts differently
    _feed(replay, range(100, 130))
    replay.flush()
    _feed(replay, range(130, 200))
    replay.flush()

    _bids_landed_once(lake, 200, [(0, 99), (100, 129), (130, 199)])


def test_a_longer_uncommitted_file_is_removed_when_the_replay_cuts_shorter(lake_dir: Path) -> None:
    lake = Lake(str(lake_dir))
    first = BronzeSink(lake, RUNS)
    _feed(first, range(0, 300))
    first.flush()  # never committed
    replay = BronzeSink(lake, RUNS)
    _feed(replay, range(0, 100))
    replay.flush()
    assert _ranges(lake, "bids") == [(0, 99)]
    _feed(replay, range(100, 300))
    replay.flush()
    assert _offsets(lake, "bids") == list(range(300))


def test_a_step_back_drops_what_was_buffered(lake_dir: Path) -> None:
    lake = Lake(str(lake_dir))
    sink = BronzeSink(lake, RUNS)
    _feed(sink, range(0, 50))
    _feed(sink, range(20, 60))  # Quix seeked back to the committed offset 20
    sink.flush()
    assert _ranges(lake, "bids") == [(20, 59)]
    assert _offsets(lake, "bids") == list(range(20, 60))


def test_a_forward_gap_keeps_the_buffer_and_the_range_spans_it(lake_dir: Path) -> None:
    lake = Lake(str(lake_dir))
    sink = BronzeSink(lake, RUNS)
    _feed(sink, range(0, 10))
    _feed(sink, range(12, 20))  # offsets 10, 11 were transaction markers
    sink.flush()
    assert _ranges(lake, "bids") == [(0, 19)]
    assert len(_offsets(lake, "bids")) == 18


def test_rows_are_split_by_event_date_under_the_same_name(lake_dir: Path) -> None:
    lake = Lake(str(lake_dir))
    sink = BronzeSink(lake, RUNS)
    _feed(sink, range(0, 10), day_of=lambda offset: offset // 5)
    sink.flush()
    files = lake.list_files("bronze/bids")
    assert len(files) == 2 and len({Path(f).name for f in files}) == 1
    assert len({Path(f).parent.name for f in files}) == 2
    assert _offsets(lake, "bids") == list(range(10))


def test_replays_are_idempotent_on_s3(s3_settings: Settings) -> None:
    lake = Lake.from_settings(s3_settings)
    first = BronzeSink(lake, RUNS)
    _feed(first, range(0, 40))
    first.flush()
    replay = BronzeSink(lake, RUNS)
    _feed(replay, range(0, 25))
    replay.flush()
    _feed(replay, range(25, 40))
    replay.flush()
    assert _ranges(lake, "bids") == [(0, 24), (25, 39)]


@pytest.mark.parametrize("max_rows", [7])
def test_a_full_buffer_can_be_flushed_early(lake_dir: Path, max_rows: int) -> None:
    sink = BronzeSink(Lake(str(lake_dir)), RUNS, max_rows=max_rows)
    _feed(sink, range(0, 7))
    assert sink.full("bids", 0)
    sink.flush_partition_async("bids", 0)
    assert not sink.full("bids", 0)


def test_canonical_json_rows_land_with_the_contract_types(lake_dir: Path) -> None:
    lake = Lake(str(lake_dir))
    sink = BronzeSink(lake, RUNS)
    values = [bid(offset, 1, 20, T0 + offset, 1000 + offset)[2] or b"" for offset in range(5)]
    for offset, value in enumerate(values):
        sink.note("bids", 0, offset).add_json(
            "bids", scored_value(value, 0.25 * (offset % 2), ["x"] * (offset % 2)), offset, T0
        )
    sink.flush()
    scored = pl.read_parquet(lake.list_files("bronze/bids-scored")[0])
    plain = pl.read_parquet(lake.list_files("bronze/bids")[0])
    assert plain.columns == [f.name for f in bronze_schema("bids")]
    assert scored["fraud_score"].to_list() == [0.0, 0.25, 0.0, 0.25, 0.0]
    assert scored["fraud_reasons"].to_list() == [[], ["x"], [], ["x"], []]
    for offset, value in enumerate(values):
        expected = Bid.model_validate_json(value).__dict__
        row = plain.row(offset, named=True)
        assert {name: row[name] for name in expected} == expected
        assert (row["_offset"], row["_key"], row["_partition"]) == (offset, "a1", 0)


def test_json_the_reader_cannot_take_goes_through_the_contract(lake_dir: Path) -> None:
    lake = Lake(str(lake_dir))
    sink = BronzeSink(lake, RUNS)
    # valid for the contract (it truncates to milliseconds), not readable as timestamp[ms] by pyarrow's JSON reader
    value = bid(0, 1, 20, T0, 1000, bid_time="2026-09-21T14:13:20.000123Z")[2] or b""
    event = Bid.model_validate_json(value)
    sink.note("bids", 0, 0).add_json("bids", scored_value(value, 0.0, []), 0, T0)
    sink.flush()
    row = pl.read_parquet(lake.list_files("bronze/bids")[0]).row(0, named=True)
    assert row["bid_time"] == event.bid_time and row["bid_time"].microsecond == 0


def test_ranges_handed_to_writer_threads_land_before_the_checkpoint_returns(lake_dir: Path) -> None:
    lake = Lake(str(lake_dir))
    sink = BronzeSink(lake, RUNS, max_rows=10)
    for start in range(0, 40, 10):
        _feed(sink, range(start, start + 10))
        assert sink.full("bids", 0)
        sink.flush_partition_async("bids", 0)
    _feed(sink, range(40, 45))
    sink.flush()  # the checkpoint: waits for the four ranges in flight and writes the rest
    assert _ranges(lake, "bids") == [(0, 9), (10, 19), (20, 29), (30, 39), (40, 44)]
    assert sink.files_written == 10  # bids and bids-scored per range

    replay = BronzeSink(lake, RUNS, max_rows=10)  # the commit at 45 never happened; the last one was at 20
    _feed(replay, range(20, 30))
    replay.flush_partition_async("bids", 0)
    _feed(replay, range(30, 45))
    replay.flush()
    assert _offsets(lake, "bids") == list(range(45))
    assert _ranges(lake, "bids") == [(0, 9), (10, 19), (20, 29), (30, 44)]


def test_input_rows_only_come_as_canonical_json(lake_dir: Path) -> None:
    buffer = BronzeSink(Lake(str(lake_dir)), RUNS).note("bids", 0, 0)
    event = Bid.model_validate_json(bid(0, 1, 20, T0, 1000)[2] or b"")
    with pytest.raises(ValueError, match="add_json"):
        buffer.add("bids-scored", event.__dict__, 0, "a1", T0, epoch_day(event.event_time))


def test_ranges_open_long_enough_are_written_before_the_checkpoint_while_the_worker_keeps_up(lake_dir: Path) -> None:
    lake, clock = Lake(str(lake_dir)), Clock()
    sink = BronzeSink(lake, RUNS, early_after_s=1.0, early_min_rows=50, clock=clock)
    _feed(sink, range(0, 60))
    clock.now = 0.9
    sink.tick()  # not open long enough
    assert _ranges(lake, "bids") == []
    clock.now = 1.0
    sink.tick(lag_s=5.0)  # catching up on a backlog: left to the checkpoint
    assert _ranges(lake, "bids") == []
    sink.tick(lag_s=0.2)
    assert _ranges(lake, "bids") == [(0, 59)]  # written now; the next range starts after it
    _feed(sink, range(60, 80))
    clock.now = 3.0
    sink.tick()  # 20 rows: too few to be worth a file of their own before the checkpoint
    assert _ranges(lake, "bids") == [(0, 59)]
    sink.flush()
    _bids_landed_once(lake, 80, [(0, 59), (60, 79)])


def test_a_range_written_early_and_never_committed_is_replaced_by_the_replay(lake_dir: Path) -> None:
    lake, clock = Lake(str(lake_dir)), Clock()
    first = BronzeSink(lake, RUNS, early_after_s=1.0, early_min_rows=10, clock=clock)
    _feed(first, range(0, 40))
    first.flush()  # checkpoint: 0..39 committed
    _feed(first, range(40, 90))
    clock.now = 2.0
    first.tick()  # 40..89 written early, then the worker dies before the next commit

    replay = BronzeSink(lake, RUNS)  # restarts at the committed offset, 40
    _feed(replay, range(40, 100))
    replay.flush()
    _bids_landed_once(lake, 100, [(0, 39), (40, 99)])


def test_ranges_due_together_are_written_one_per_tick(lake_dir: Path) -> None:
    lake, clock = Lake(str(lake_dir)), Clock()
    sink = BronzeSink(lake, RUNS, early_after_s=1.0, early_min_rows=10, clock=clock)
    _feed(sink, range(0, 20), partition=0)
    _feed(sink, range(0, 30), partition=1)
    clock.now = 1.0
    sink.tick()
    assert len(lake.list_files("bronze/bids")) == 1  # one pause per range, not one for all
    sink.tick()
    assert len(lake.list_files("bronze/bids")) == 2 and sink.early_ranges == 2
    sink.tick()
    assert sink.early_ranges == 2  # nothing left to write
