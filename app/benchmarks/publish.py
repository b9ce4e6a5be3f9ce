"""`python -m app bench publish`: rows/s of `publish` (gold -> PostgreSQL) against psql's ``\\copy`` as the floor.

Steps:

1. **Gold** of a 10M-bid lake: the bronze that `bench batch` caches under ``<cache>/bronze-…`` (made by
   it if missing), and its gold if `bench batch` left it there (else the batch runs once, in a child).
2. A scratch database on the server of ``--database-url`` (default: ``AUCTION_DATABASE_URL``, else the
   local server), migrated, dropped at the end.
3. **Publish**: :func:`pipelines.batch.publish.publish` with ``force`` (every table: read the lake's
   Parquet, encode CSV, COPY into staging tables, primary keys, swap in one transaction).
4. **Floor**: the same CSV bytes that publish sends, exported to files, loaded by ``psql`` (one process,
   one ``\\copy`` per table) into fresh tables defined like the gold ones (primary key included).

Publish and floor alternate ``--runs`` times; the best run of each counts (the machine is shared);
``ratio`` = publish rows/s / floor rows/s (``ratio_of_medians``: the same of the median runs). Goal
(issue 17): ratio >= 0.8.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import click

from pipelines.infra.errors import UserError

GOAL_RATIO = 0.8
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _gold_lake(cache: Path, bids: int, days: float, seed: int, env: dict[str, str]) -> tuple[Path, dict[str, Any]]:
    """The cached 10M-bid lake of `bench batch`, with gold (the batch runs once if it has none)."""
    from app.benchmarks.batch import BATCH_CHILD, GENERATE_CHILD, _child
    from pipelines.batch.gold import PUBLISHED_TABLES

    code = GENERATE_CHILD.format(cache=str(cache.resolve()), bids=bids, days=days, seed=seed)
    generated = json.loads(_child(code, env)[2].strip().splitlines()[-1])
    lake = Path(generated["lake"])
    have_gold = all((lake / "gold" / name / f"{name}.parquet").exists() for name in PUBLISHED_TABLES)
    info = {"bronze_cached": generated["cached"], "gold_reused": have_gold}
    if not have_gold:
        wall, _, _ = _child(BATCH_CHILD, {**env, "AUCTION_LAKE_URL": str(lake)})
        info["batch_s"] = round(wall, 1)
    return lake, info


def _floor(url: str, folder: Path, names: list[str], rows: dict[str, int]) -> float:
    """Seconds for one psql process to ``\\copy`` every exported CSV into fresh tables like the gold ones."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS floor CASCADE; CREATE SCHEMA floor")
        for name in names:
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                sql.Identifier("floor", name), sql.Identifier("gold", name)))  # fmt: skip
    script = folder / "floor.sql"
    # file names are ours (a temp dir and the table names), quoted as psql wants
    script.write_text("".join(f"\\copy floor.{n} FROM '{folder / (n + '.csv')}' WITH (FORMAT csv)\n" for n in names))
    began = time.perf_counter()
    done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(script)],
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - began
    if done.returncode:
        raise UserError(
            f"psql \\copy failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
        )
    with psycopg.connect(url) as conn:
        for name in names:
            found = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("floor", name))).fetchone()
            if not found or found[0] != rows[name]:
                raise UserError(f"psql loaded {found} rows into floor.{name}, expected {rows[name]}")
    return seconds


@click.command()
@click.option("--bids", default=10_000_000, show_default=True, type=click.IntRange(min=1000), help="Bids of the lake.")
@click.option("--days", default=7.0, show_default=True, type=click.FloatRange(min=1), help="Days the bids span.")
@click.option("--seed", default=7, show_default=True, help="Generator seed.")
@click.option("--runs", default=2, show_default=True, type=click.IntRange(1, 10), help="Runs of each side.")
@click.option("--cache", default="./data/bench", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Cache of `bench batch` (generated bronze, and gold if it left it).")  # fmt: skip
@click.option("--database-url", default=None, help="Server to use [default: AUCTION_DATABASE_URL, else local].")
def command(bids: int, days: float, seed: int, runs: int, cache: Path, database_url: str | None) -> None:
    """Publish rows/s for the gold of a 10M-bid lake vs psql's \\copy of the same CSV (floor); JSON."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from pipelines.batch.publish import publish, read_gold
    from pipelines.infra.lake import Lake
    from pipelines.infra.migrate import migrate
    from pipelines.infra.postgres import connect, csv_chunks
    from pipelines.infra.settings import load_settings

    if shutil.which("psql") is None:
        raise UserError("psql is not installed: the floor needs it (apt-get install postgresql-client)")
    cache.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUCTION_", "AWS_"))}
    lake_dir, info = _gold_lake(cache, bids, days, seed, env)
    server = load_settings(database_url=database_url or os.environ.get("AUCTION_DATABASE_URL") or LOCAL_SERVER)
    scratch = f"auction_bench_{uuid.uuid4().hex[:8]}"
    with connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    url = make_conninfo(server.database_url.get_secret_value(), dbname=scratch)
    settings = load_settings(database_url=url, lake_url=str(lake_dir))
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
        gold = read_gold(Lake(str(lake_dir)))
        rows = {g.name: g.table.num_rows for g in gold}
        total = sum(rows.values())
        publish_s, floor_s = [], []
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            began = time.perf_counter()
            for g in gold:
                with open(folder / f"{g.name}.csv", "wb") as handle:
                    for chunk in csv_chunks(g.table):
                        handle.write(chunk)
            export_s = time.perf_counter() - began
            csv_mb = sum(f.stat().st_size for f in folder.glob("*.csv")) / 1e6
            for _ in range(runs):  # alternating, so a busy spell of the shared machine hits both sides
                publish_s.append(publish(settings, force=True).seconds)
                floor_s.append(_floor(url, folder, [g.name for g in gold], rows))
    finally:
        with connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
    best_publish, best_floor = min(publish_s), min(floor_s)
    ratio = (total / best_publish) / (total / best_floor)
    result = {
        "benchmark": "publish",
        "lake": {"bids": bids, "days": days, "seed": seed, **info},
        "gold_rows": rows,
        "rows": total,
        "csv_mb": round(csv_mb, 1),
        "cpus": os.cpu_count(),
        "publish": {"runs_s": [round(s, 3) for s in publish_s], "rows_per_s": round(total / best_publish)},
        "floor_psql_copy": {
            "runs_s": [round(s, 3) for s in floor_s],
            "rows_per_s": round(total / best_floor),
            "note": "one psql process, one \\copy per table of the CSV publish sends, into tables like gold's "
            "(primary key included); the Parquet -> CSV export is not counted",
            "csv_export_s": round(export_s, 3),
        },
        "ratio": round(ratio, 3),
        "ratio_of_medians": round(statistics.median(floor_s) / statistics.median(publish_s), 3),
        "goals_met": {"ratio >= 0.8": ratio >= GOAL_RATIO},
    }
    click.echo(json.dumps(result, indent=2))
