"""The PostgreSQL commands of `python -m app`: migrate, seed-db, extract, publish (registered by app/cli.py).

All of them need ``AUCTION_DATABASE_URL``; without it each says so in one line. Extract and publish run
as recorded jobs (``ops.job_runs``, trigger ``manual``), like `batch`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from app.jobs import Outcome

if TYPE_CHECKING:
    from pipelines.infra.settings import Settings

JobFunc = Callable[[dt.datetime], Outcome]


@click.command("migrate")
@click.pass_obj
def migrate_cmd(obj: Any) -> None:
    """Apply the numbered SQL migrations (migrations/*.sql) to AUCTION_DATABASE_URL; a second run applies nothing.

    seed-db, extract and publish apply them too before they start.
    """
    from pipelines.infra.migrate import migrate
    from pipelines.infra.postgres import connect, failing_as, where

    settings = obj.settings
    with connect(settings) as conn, failing_as(settings, "migrations"):
        applied = migrate(conn)
    target = where(settings.database_url.get_secret_value())
    click.echo(f"migrations applied to {target}: {', '.join(applied)}" if applied else f"{target}: up to date")


@click.command("seed-db")
@click.option("--events", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Events of the generator run whose users and auctions are loaded.")  # fmt: skip
@click.option("--seed", type=int, default=42, show_default=True, help="Generator seed (same seed, same rows).")
@click.option("--days", type=click.FloatRange(min=0, max=3650, min_open=True), default=1.0, show_default=True,
              help="Time span of the generator run.")  # fmt: skip
@click.option("--start", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
              default="2026-11-01", show_default=True, help="Start of the generator's clock (UTC).")  # fmt: skip
@click.option("--partitions", type=click.IntRange(1, 256), default=None,
              help="Partitions of the generator run (part of its ids) [default: AUCTION_PARTITIONS].")  # fmt: skip
@click.option("--batch-rows", type=click.IntRange(min=1), default=50_000, show_default=True,
              help="Rows per COPY chunk.")  # fmt: skip
@click.pass_obj
def seed_db_cmd(obj: Any, events: int, seed: int, days: float, start: Any, partitions: int | None,
                batch_rows: int) -> None:  # fmt: skip
    """Fill the operational tables marketplace.users/auctions with the users and auctions the generator makes.

    The same options as `generate` give the same rows (each auction in its last state); loaded with COPY
    in one transaction; seeding the same run again inserts nothing.
    """
    from pipelines.generate import GeneratorConfig
    from pipelines.generate.seed_db import seed as seed_rows

    settings = obj.settings
    config = GeneratorConfig(seed=seed, events=events, start=start.replace(tzinfo=dt.UTC), days=days,
                             partitions=partitions or settings.partitions)  # fmt: skip
    click.echo(seed_rows(config, settings, batch_rows).line())


def extract_job(settings: Settings) -> JobFunc:
    """The extract as a job function (scheduled by app/registry.py, run once by `extract`)."""

    def job(_when: dt.datetime) -> Outcome:
        from pipelines.ingest.extract import extract

        done = extract(settings)
        rows = sum(t.rows for t in done)
        detail = {t.topic: {"rows": t.rows, "files": len(t.files), "since": t.window.since, "until": t.window.until,
                            "resumed": t.resumed} for t in done}  # fmt: skip
        per_table = " ".join(f"{t.topic}={t.rows}" for t in done)
        until = max((t.window.until for t in done), default=None)
        return Outcome(rows, rows, _jsonable(detail), f"extracted changed rows {per_table} (up to {until})")

    return job


def publish_job(settings: Settings, force: bool = False) -> JobFunc:
    """Publish as a job function (run after each scheduled refresh when a database is configured)."""

    def job(_when: dt.datetime) -> Outcome:
        from pipelines.batch.publish import publish

        result = publish(settings, force=force)
        rows = sum(result.published.values())
        return Outcome(rows, rows, {"published": result.published, "unchanged": result.unchanged}, result.line())

    return job


@click.command("extract")
@click.pass_obj
def extract_cmd(obj: Any) -> None:
    """Copy users and auctions changed in PostgreSQL since the last extract into bronze (watermark in the lake).

    Rows changed in the last AUCTION_EXTRACT_LAG_S seconds wait for the next extract. A crashed extract
    is redone with the same window (same files). Run `batch` afterwards to bring them to silver and gold.
    """
    _run_job(obj, "extract", extract_job(obj.settings))


@click.command("publish")
@click.option("--force", is_flag=True, help="Copy every table, even those unchanged since the last publish.")
@click.pass_obj
def publish_cmd(obj: Any, force: bool) -> None:
    """Copy the BI contract's gold tables (DESIGN's six) into PostgreSQL schema gold with COPY, swapped at once.

    Readers see the previous tables or the new ones, never a partial or empty table. Tables whose lake
    file did not change since the last publish are left as they are.
    """
    _run_job(obj, "publish", publish_job(obj.settings, force))


def _run_job(obj: Any, name: str, func: JobFunc) -> None:
    from app.jobs import run_manual
    from pipelines.infra.lake import Lake

    outcomes: list[Outcome] = []

    def job(when: dt.datetime) -> Outcome:
        outcomes.append(func(when))
        return outcomes[-1]

    run_manual(Lake.from_settings(obj.settings), name, job, lambda line: click.echo(line, err=True))
    click.echo(outcomes[-1].line)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value.isoformat() if isinstance(value, dt.datetime) else value


COMMANDS = (migrate_cmd, seed_db_cmd, extract_cmd, publish_cmd)
