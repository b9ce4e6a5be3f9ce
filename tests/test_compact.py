"""Compaction keeps every promise of the lake: same rows for every reader before, during (even after a
SIGKILL between writing the merged file and removing its parts) and after; silver and gold identical; a
stream replay after it duplicates nothing; a corrupt file is quarantined with its reason, never deleted."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from app.batch import bronze_days, run_batch
from app.batch.io import scan_bronze
from pipelines.batch.compact import BronzeFile, compact, plan
from pipelines.generate import GeneratorConfig, to_lake
from pipelines.infra.duck import connect
from pipelines.infra.lake import Lake, bronze_file_name, live_files, parse_bronze_file_name
from pipelines.infra.settings import Settings
from pipelines.stream.bronze import BronzeSink
from tests.test_bronze import RUNS, _bids_landed_once, _feed

TABLES = ("users", "auctions", "bids")


def test_readers_skip_files_a_compacted_file_contains() -> None:
    name = lambda run, part, a, b: f"/l/bronze/bids/date=2026-11-01/{bronze_file_name(run, part, a, b)}"  # noqa: E731
    parts = [name("r", 0, 0, 9), name("r", 0, 10, 19), name("r", 0, 20, 29)]
    merged = name("r", 0, 0, 19)
    other = [name("r", 1, 0, 9), name("q", 0, 0, 9), "/l/bronze/bids/date=2026-11-02/" + bronze_file_name("r", 0, 5, 5)]
    listing = sorted([*parts, merged, *other, "/l/bronze/bids/date=2026-11-01/odd.parquet"])
    assert live_files(listing) == [p for p in listing if p not in parts[:2]]


def _f(first: int, last: int, size: int = 10) -> BronzeFile:
    return BronzeFile(f"x-{first}", "r", 0, first, last, size)


def test_plan_merges_consecutive_final_files_up_to_the_target() -> None:
    files = [_f(0, 9), _f(10, 19), _f(20, 29), _f(30, 39, size=100), _f(40, 49), _f(50, 59), _f(60, 69)]
    groups = [[f.first for f in g] for g in plan(files, limit=None, target_bytes=25)]
    assert groups == [[0, 10, 20], [40, 50, 60]]  # a file of the target size or more stays as it is
    # only ranges below the committed offset are final; a lone final file is left alone
    assert [[f.first for f in g] for g in plan(files, limit=50, target_bytes=1000)] == [[0, 10, 20, 30, 40]]
    assert [[f.first for f in g] for g in plan(files, limit=50, target_bytes=50)] == [[0, 10, 20]]
    assert plan(files, limit=0, target_bytes=1000) == []  # nothing committed: nothing is final


def _shatter(lake: Lake, rows_per_file: int) -> int:
    """Cut every bronze file into files of ``rows_per_file`` rows named by their offsets (as a stream would)."""
    count = 0
    for path in lake.list_files("bronze"):
        run, partition, first, _ = parse_bronze_file_name(path)
        table = pq.read_table(path)
        if table.num_rows <= rows_per_file:
            count += 1
            continue
        for start in range(0, table.num_rows, rows_per_file):
            piece = table.slice(start, rows_per_file)
            a, b = first + start, first + start + piece.num_rows - 1
            pq.write_table(piece, f"{path.rsplit('/', 1)[0]}/{bronze_file_name(run, partition, a, b)}")
            count += 1
        Path(path).unlink()
    return count


def _counts(settings: Settings) -> dict[str, tuple[int, int]]:
    """Rows per bronze table as DuckDB (the SQL views) and as the batch (Polars) read them."""
    con, lake = connect(settings), Lake.from_settings(settings)
    out = {}
    for table in TABLES:
        sql_rows = con.execute(f'select count(*) from bronze."{table.replace("-", "_")}"').fetchone()
        frame = scan_bronze(lake, settings, table, bronze_days(lake))
        out[table] = (
            sql_rows[0] if sql_rows else -1,
            frame.select(pl.len()).collect().item() if frame is not None else 0,
        )
    return out


def _silver_gold(lake_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(lake_dir)): p.read_bytes() for p in sorted(lake_dir.rglob("*.parquet"))
            if p.relative_to(lake_dir).parts[0] in ("silver", "gold", "quarantine")}  # fmt: skip


@pytest.fixture
def shattered(settings: Settings) -> tuple[Settings, int]:
    lake = Lake.from_settings(settings)
    to_lake(GeneratorConfig(seed=3, events=4000, days=2, partitions=2), lake)
    return settings, _shatter(lake, 60)


def test_compaction_keeps_rows_silver_and_gold(shattered: tuple[Settings, int], lake_dir: Path) -> None:
    settings, files = shattered
    before = _counts(settings)
    assert all(sql == batch > 0 for sql, batch in before.values())
    run_batch(settings, checks=False)
    silver_gold = _silver_gold(lake_dir)
    result = compact(settings, None, {})
    after_files = len(Lake.from_settings(settings).list_files("bronze"))
    assert after_files == files - result.files_in + result.files_out < files / 4  # lone files stay as they are
    assert _counts(settings) == before
    run_batch(settings, checks=False)
    assert _silver_gold(lake_dir) == silver_gold  # byte for byte
    assert compact(settings, None, {}).files_in == 0  # nothing left to merge


PAUSING = textwrap.dedent(
    """
    import sys, time
    from pipelines.infra.settings import Settings
    from pipelines.batch.compact import compact
    def pause(merged, parts):
        print("written", merged, len(parts), flush=True)
        time.sleep(300)
    compact(Settings(lake_url=sys.argv[1]), None, {}, after_write=pause)
    """
)


def test_sigkill_between_write_and_remove_loses_nothing_and_duplicates_nothing(
    shattered: tuple[Settings, int], lake_dir: Path
) -> None:
    settings, files = shattered
    before = _counts(settings)
    run_batch(settings, checks=False)
    silver_gold = _silver_gold(lake_dir)
    proc = subprocess.Popen([sys.executable, "-c", PAUSING, str(lake_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("written"), line
        # mid-way: the merged file and its parts both exist; readers see every row once
        assert len(Lake.from_settings(settings).list_files("bronze")) == files + 1
        assert _counts(settings) == before
    finally:
        proc.kill()
        proc.wait(10)
    assert _counts(settings) == before  # the crash left both: still every row once
    run_batch(settings, checks=False)
    assert _silver_gold(lake_dir) == silver_gold
    again = compact(settings, None, {})
    assert again.leftovers_removed == int(line.split()[-1])  # the next run finishes the job
    assert _counts(settings) == before
    run_batch(settings, checks=False)
    assert _silver_gold(lake_dir) == silver_gold


def test_a_stream_replay_after_compaction_duplicates_nothing(lake_dir: Path) -> None:
    settings = Settings(lake_url=str(lake_dir))
    lake = Lake(str(lake_dir))
    first = BronzeSink(lake, RUNS)
    for start in range(0, 100, 20):
        _feed(first, range(start, start + 20))
        first.flush()  # checkpoints: offsets 0..99 committed
    _feed(first, range(100, 150))
    first.flush()  # written, then the worker dies before committing offset 150
    result = compact(settings, RUNS, {("bids", 0): 100})
    assert result.files_in == 10 and result.files_out == 2  # bids and bids-scored 0..99; 100..149 not final
    replay = BronzeSink(lake, RUNS)  # restarts from the committed offset, 100, and cuts differently
    _feed(replay, range(100, 130))
    replay.flush()
    _feed(replay, range(130, 200))
    replay.flush()
    _bids_landed_once(lake, 200, [(0, 99), (100, 129), (130, 199)])


def test_a_corrupt_file_is_quarantined_with_its_reason_and_the_rest_compacted(lake_dir: Path) -> None:
    settings = Settings(lake_url=str(lake_dir))
    lake = Lake(str(lake_dir))
    sink = BronzeSink(lake, RUNS)
    for start in range(0, 60, 20):
        _feed(sink, range(start, start + 20))
        sink.flush()
    bad = next(p for p in lake.list_files("bronze/bids") if "-000000000020-" in p)
    Path(bad).write_bytes(b"PAR1 not really")
    result = compact(settings, None, {})
    assert result.quarantined == [bad] and result.files_in == 5  # bids 0-19 + 40-59, bids-scored all three
    moved = lake_dir / "quarantine" / "corrupt" / "bronze" / "bids" / bad.split("/")[-2]
    name = bad.rsplit("/", 1)[-1]
    assert (moved / f"{name}.corrupt").read_bytes() == b"PAR1 not really"
    assert "could not read" in (moved / f"{name}.reason").read_text()
    offsets = sorted(pl.read_parquet(live_files(lake.list_files("bronze/bids"))[0])["_offset"].to_list())
    assert offsets == [*range(0, 20), *range(40, 60)]
    assert "quarantine.corrupt" not in {v for (v,) in connect(settings).execute(
        "select schema_name || '.' || view_name from duckdb_views()").fetchall()}  # fmt: skip


def test_compaction_on_s3(s3_settings: Settings) -> None:
    lake = Lake.from_settings(s3_settings)
    sink = BronzeSink(lake, RUNS)
    for start in range(0, 60, 20):
        _feed(sink, range(start, start + 20))
        sink.flush()
    result = compact(s3_settings, RUNS, {("bids", 0): 60})
    assert (result.files_in, result.files_out, result.rows) == (6, 2, 120)
    assert [parse_bronze_file_name(p)[2:] for p in lake.list_files("bronze/bids")] == [(0, 59)]
    con = connect(s3_settings)
    assert con.execute("select count(*), count(distinct _offset) from bronze.bids").fetchone() == (60, 60)
