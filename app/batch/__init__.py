"""The batch job: bronze -> silver (Polars) -> gold (DuckDB), for some days or all of them.

Order and scope, chosen so that every day can be re-run alone and yields the same output:

1. ``users`` and ``auctions`` are current-state tables: rebuilt from *all* bronze days on every run
   (a bid today may reference an auction opened last week, closed tomorrow). They are small next to bids.
2. ``bids`` and ``fraud_alerts`` are rebuilt for the selected days only, checked against (1).
3. Gold is recomputed from all of silver (the aggregates span days).

Each run reports, per day and table, how many bronze rows became silver, were quarantined (by rule),
were duplicates, or were superseded by a newer state of the same id; the counts always add up.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, TypeVar

import duckdb
import polars as pl

from app.batch.io import parquet_bytes, partition_days, put_partition, replace_table, scan_bronze
from app.batch.report import BatchResult, TableDay, counts, tally
from pipelines.batch import silver
from pipelines.contracts import polars_schema
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake, LakeUnavailable
from pipelines.infra.settings import Settings

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
QUARANTINE_ORDER = ["_rule", "event_id", "_broker_run", "_partition", "_offset"]


def select_days(day: dt.date | None, first: dt.date | None, last: dt.date | None) -> list[dt.date] | None:
    """The days a command line asks for: one, a range (both ends inclusive), or None for all."""
    import click

    if day is not None and (first is not None or last is not None):
        raise click.UsageError("give --date or --from/--to, not both")
    if (first is None) != (last is None):
        raise click.UsageError("a backfill needs both --from and --to")
    if day is not None:
        return [_as_date(day)]
    if first is None or last is None:
        return None
    start, end = _as_date(first), _as_date(last)
    if end < start:
        raise click.UsageError(f"--to {end} is before --from {start}")
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def _as_date(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def bronze_days(lake: Lake) -> list[dt.date]:
    """Every day that has bronze for any topic."""
    days: set[dt.date] = set()
    for topic in silver.SOURCES.values():
        days.update(partition_days(lake, f"bronze/{topic}"))
    return sorted(days)


def run_batch(settings: Settings, days: list[dt.date] | None = None, checks: bool = True) -> BatchResult:
    """Silver for ``days`` (all bronze days when None), gold over all silver, then the data checks.

    Raises UserError (one line) when the lake fails; files already written are whole, so a re-run
    finishes the job.
    """
    from pipelines.batch.gold import run_gold

    lake = Lake.from_settings(settings)
    lake.check_writable()
    lake.fs.invalidate_cache()  # s3fs caches listings per process (the scheduler runs many batches)
    started = time.perf_counter()
    try:
        every_day = bronze_days(lake)
        selected = every_day if days is None else sorted(set(days))
        reports, users, auctions = _dimensions(lake, settings, every_day, set(selected))
        for day in selected:
            reports += [_bids_day(lake, settings, day, users, auctions), _alerts_day(lake, settings, day)]
        silver_s = time.perf_counter() - started
        gold = run_gold(settings, lake, checks)
    except (OSError, duckdb.IOException, duckdb.HTTPException) as exc:
        # the lake went away mid-run (S3 down, credentials revoked, disk full): every file written so far
        # is whole, and a re-run rewrites the same files
        where = "" if isinstance(exc, LakeUnavailable) else f" on lake {lake.where()}"
        raise UserError(f"batch failed{where}: {_reason(exc)} (files are replaced whole: re-run)") from None
    seconds = {"silver": silver_s, "gold": gold.gold_s, "checks": gold.checks_s}
    return BatchResult(selected, reports, gold.rows, gold.checks, seconds)


def _dimensions(
    lake: Lake, settings: Settings, every_day: list[dt.date], wanted: set[dt.date]
) -> tuple[list[TableDay], pl.Series, pl.LazyFrame]:
    """Rebuild silver users and auctions over all days; returns the wanted days' reports, user ids, auctions."""
    users_bronze = scan_bronze(lake, settings, "users", every_day)
    users = _collect(silver.classify_users(users_bronze) if users_bronze is not None else None, "users")
    _write_state(lake, "users", users, users.filter(pl.col("_fate") == "silver"))
    user_ids = users.filter(pl.col("_fate") == "silver")["user_id"]
    auctions_bronze = scan_bronze(lake, settings, "auctions", every_day)
    classified = silver.classify_auctions(auctions_bronze, user_ids) if auctions_bronze is not None else None
    auctions = _collect(classified, "auctions")
    resolved = silver.resolve_auctions(auctions.filter(pl.col("_fate") == "silver").lazy()).collect()
    _write_state(lake, "auctions", auctions, resolved)
    reports = [r for r in counts("users", tally(users)) + counts("auctions", tally(auctions)) if r.day in wanted]
    return reports, user_ids, resolved.lazy()


def _bids_day(lake: Lake, settings: Settings, day: dt.date, users: pl.Series, auctions: pl.LazyFrame) -> TableDay:
    bronze = scan_bronze(lake, settings, "bids", [day])
    scored = scan_bronze(lake, settings, "bids-scored", [day])
    classified = silver.classify_bids(bronze, auctions, users, scored) if bronze is not None else None
    return _day_table(lake, "bids", day, classified)


def _alerts_day(lake: Lake, settings: Settings, day: dt.date) -> TableDay:
    bronze = scan_bronze(lake, settings, "fraud-alerts", [day])
    classified = silver.classify_alerts(bronze) if bronze is not None else None
    return _day_table(lake, "fraud_alerts", day, classified)


def _collect(classified: pl.LazyFrame | None, table: str) -> pl.DataFrame:
    """Run a state table's classification into one frame with ``_fate``; empty when there is no bronze.

    State tables are split by bronze day after classification, so they are collected whole (users
    and auctions are small next to bids); per-day tables are built one day at a time (:func:`_day_table`).
    """
    if classified is None:
        empty = silver.empty_frame(table).with_columns(
            pl.lit(None, pl.Date).alias("_bronze_date"),
            pl.lit(None, pl.String).alias("_rule"),
            pl.lit("silver").cast(silver.FATE).alias("_fate"),
        )
        return empty.clear()
    return silver.fates(classified).collect()


def _day_table(lake: Lake, table: str, day: dt.date, classified: pl.LazyFrame | None) -> TableDay:
    """One day of a per-day table: classified in memory, split into silver and quarantine, tallied; each
    file then replaces its partition atomically.

    Memory holds one day (not the whole table). The in-memory engine was measured against streaming
    sinks of the same plan at 10M bids: ~18 % less CPU for the same wall time or less, and no more peak
    RSS (the streaming join and dedup keep their hash tables anyway).
    """
    if classified is None:
        put_partition(lake, f"silver/{table}", day, None)
        put_partition(lake, f"quarantine/{table}", day, None)
        return TableDay(table, day)
    fated = silver.fates(classified).collect(engine="in-memory")
    report = next(iter(counts(table, tally(fated))), TableDay(table, day))
    put_partition(lake, f"silver/{table}", day, parquet_bytes(_silver_rows(fated, table)) if report.silver else None)
    quarantined = parquet_bytes(_quarantine_rows(fated, table)) if report.quarantined else None
    put_partition(lake, f"quarantine/{table}", day, quarantined)
    return report


def _silver_rows(frame: FrameT, table: str) -> FrameT:
    rows = frame.filter(pl.col("_fate") == "silver")
    return rows.select(silver.silver_columns(table))  # arrival order: deterministic, no sort needed


def _quarantine_rows(frame: FrameT, table: str) -> FrameT:
    columns = [*polars_schema(silver.SOURCES[table]), "_rule"]
    return frame.filter(pl.col("_fate") == "quarantine").select(columns).sort(QUARANTINE_ORDER, nulls_last=True)


def _write_state(lake: Lake, table: str, frame: pl.DataFrame, good: pl.DataFrame) -> None:
    """Write a state table by the bronze day of each row's winning event; quarantine by bronze day."""
    silver_parts = {key[0]: _silver_rows(part, table) for key, part in _by_day(good)}
    bad = frame.filter(pl.col("_fate") == "quarantine")
    quarantine_parts = {key[0]: _quarantine_rows(part, table) for key, part in _by_day(bad)}
    replace_table(lake, f"silver/{table}", silver_parts)
    replace_table(lake, f"quarantine/{table}", quarantine_parts)


def _by_day(frame: pl.DataFrame) -> list[tuple[tuple[Any, ...], pl.DataFrame]]:
    """Rows per bronze day, each part in the frame's (arrival) order."""
    return list(frame.partition_by("_bronze_date", as_dict=True, maintain_order=True).items())


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
