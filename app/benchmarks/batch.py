"""`python -m app bench batch`: bronze -> silver -> gold for N generated bids, against a DuckDB floor.

Steps, each timed on its own:

1. **Bronze** from the generator (``pipelines.generate.to_lake``), cached in
   ``<cache>/bronze-<run id>-<generator source hash>/`` keyed by the config and the generator's code, so
   repeated runs reuse it (a ``generated.json`` marker is written
   last; a half-generated directory is regenerated).
2. **Batch** (``run_batch`` over all days) in a child process: wall time and that child's peak RSS
   (``os.wait4`` rusage), so generation and the parent never count.
3. **Floor**: one DuckDB scan + group-by over the same bronze bids, also in a child process — the
   cheapest "read every bid once and aggregate" on this machine, timed before and after the batch
   (the faster counts: the machine may be shared). ``ratio`` = batch / floor. For
   context the same child also times a DuckDB copy of every bronze bid column to Parquet: the read
   and write that any silver rewrite of the bids must do.

Prints one JSON document. Goals (issue 4): batch < 60 s, < 4 GB RSS, ratio <= 5.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from pipelines.infra.errors import UserError

FLOOR_SQL = (
    "SELECT auction_id, count(*) AS bids, sum(amount) AS amount, count(DISTINCT bidder_id) AS bidders, "
    "max(bid_time) AS last_bid FROM read_parquet(?) GROUP BY auction_id"
)
COPY_NOTE = "DuckDB reading every bronze bid column and writing it back as Parquet: the I/O any silver rewrite does"
GOALS = {"wall_s": 60.0, "peak_rss_mb": 4096.0, "ratio": 5.0}


def _config(events: int, days: float, seed: int) -> Any:
    from pipelines.generate import GeneratorConfig

    return GeneratorConfig(seed=seed, events=events, days=days)


def _events_for(bids: int, days: float, seed: int) -> int:
    """Events the generator needs for ``bids`` bids (its bid share measured on a small pilot run)."""
    from pipelines.generate import to_lake
    from pipelines.infra.lake import Lake

    with tempfile.TemporaryDirectory() as pilot:
        counts = to_lake(_config(20_000, days, seed), Lake(pilot)).counts
    share = counts.get("bids", 0) / max(sum(counts.values()), 1)
    return math.ceil(bids / share) if share else bids


def _generator_version() -> str:
    """Hash of the generator's source: a changed generator makes new bronze instead of reusing stale files."""
    import hashlib

    import pipelines.generate

    digest = hashlib.blake2b(digest_size=4)
    for path in sorted(Path(pipelines.generate.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _bronze(cache: Path, bids: int, days: float, seed: int) -> tuple[Path, dict[str, Any]]:
    """The cached lake holding bronze for the config (generated now if missing)."""
    from pipelines.generate import to_lake
    from pipelines.infra.lake import Lake

    config = _config(_events_for(bids, days, seed), days, seed)
    lake_dir = cache / f"bronze-{config.run_id()}-{_generator_version()}"
    marker = lake_dir / "generated.json"
    if marker.exists():
        return lake_dir, {**json.loads(marker.read_text()), "cached": True}
    shutil.rmtree(lake_dir, ignore_errors=True)
    summary = to_lake(config, Lake(str(lake_dir)))
    info = {"events": summary.events, "counts": summary.counts, "seconds": round(summary.seconds, 2)}
    marker.write_text(json.dumps(info))
    return lake_dir, {**info, "cached": False}


def _child(code: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``python -c code``; returns (wall seconds, peak RSS MB of that process, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise UserError(f"benchmark step failed (exit {proc.returncode}); its error is above")
    return wall, usage.ru_maxrss / 1024, out


GENERATE_CHILD = """
import json
from pathlib import Path
from app.benchmarks.batch import _bronze
lake, info = _bronze(Path({cache!r}), {bids!r}, {days!r}, {seed!r})
print(json.dumps({{**info, "lake": str(lake)}}))
"""

BATCH_CHILD = """
import json, time
from app.batch import run_batch
from pipelines.infra.settings import load_settings
started = time.perf_counter()
result = run_batch(load_settings())
print(json.dumps({"in_process_s": time.perf_counter() - started, "gold": result.gold, "phases": result.seconds,
                  "checks": result.checks,
                  "bronze_bids": sum(t.bronze for t in result.tables if t.table == "bids"),
                  "silver_bids": sum(t.silver for t in result.tables if t.table == "bids")}))
"""

FLOOR_CHILD = """
import json, os, sys, tempfile, time, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
started = time.perf_counter()
rows = con.execute({sql!r}, [{glob!r}]).to_arrow_table()
scan, copy = time.perf_counter() - started, None
if {copy}:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        target = os.path.join(tmp, "copy.parquet")  # a fresh temp path of ours: COPY TO takes no parameter
        con.execute("COPY (SELECT * FROM read_parquet(?)) TO '" + target + "' (COMPRESSION zstd)", [{glob!r}])
        copy = time.perf_counter() - started
print(json.dumps({{"seconds": scan, "groups": rows.num_rows, "copy_seconds": copy}}))
"""


@click.command()
@click.option("--bids", default=10_000_000, show_default=True, type=click.IntRange(min=1000), help="Bids to process.")
@click.option("--days", default=7.0, show_default=True, type=click.FloatRange(min=1), help="Days the bids span.")
@click.option("--seed", default=7, show_default=True, help="Generator seed.")
@click.option("--cache", default="./data/bench", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where generated bronze is kept between runs (keyed by the generator config).")  # fmt: skip
def command(bids: int, days: float, seed: int, cache: Path) -> None:
    """Batch (bronze -> silver -> gold) wall time and peak RSS for N bids, and the DuckDB scan floor."""
    cache.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUCTION_", "AWS_"))}
    # generation runs in a child too: Linux carries a parent's peak RSS into a forked child's ru_maxrss
    code = GENERATE_CHILD.format(cache=str(cache.resolve()), bids=bids, days=days, seed=seed)
    generated = json.loads(_child(code, env)[2].strip().splitlines()[-1])
    lake_dir = Path(generated["lake"])
    for layer in ("silver", "quarantine", "gold"):
        shutil.rmtree(lake_dir / layer, ignore_errors=True)
    env["AUCTION_LAKE_URL"] = str(lake_dir)
    glob = str(lake_dir / "bronze" / "bids" / "*" / "*.parquet")
    # the floor is timed before and after the batch (the machine may be shared); the faster one counts
    before = json.loads(_child(FLOOR_CHILD.format(sql=FLOOR_SQL, glob=glob, copy=False), env)[2].splitlines()[-1])
    batch_wall, batch_rss, out = _child(BATCH_CHILD, env)
    batch = json.loads(out.strip().splitlines()[-1])
    _, floor_rss, out = _child(FLOOR_CHILD.format(sql=FLOOR_SQL, glob=glob, copy=True), env)
    floor = json.loads(out.strip().splitlines()[-1])
    floor_s = min(before["seconds"], floor["seconds"])
    ratio = batch_wall / floor_s
    result = {
        "benchmark": "batch",
        "bids": batch["bronze_bids"],
        "silver_bids": batch["silver_bids"],
        "days": days,
        "cpus": os.cpu_count(),
        "generation": generated,
        "batch": {
            "wall_s": round(batch_wall, 2),
            "in_process_s": round(batch["in_process_s"], 2),
            "phases_s": {k: round(v, 2) for k, v in batch["phases"].items()},
            "peak_rss_mb": round(batch_rss, 1),
            "gold_rows": batch["gold"],
            "checks_failed": {k: v for k, v in batch["checks"].items() if v},
        },
        "floor": {
            "query": FLOOR_SQL,
            "seconds": round(floor_s, 2),
            "runs_s": [round(before["seconds"], 2), round(floor["seconds"], 2)],
            "peak_rss_mb": round(floor_rss, 1),
            "copy_all_columns_s": round(floor["copy_seconds"], 2),
            "copy_note": COPY_NOTE,
        },
        "ratio": round(ratio, 2),
        "ratio_without_checks": round((batch_wall - batch["phases"]["checks"]) / floor_s, 2),
        "goals_met": {
            "wall_s < 60": batch_wall < GOALS["wall_s"],
            "peak_rss < 4 GB": batch_rss < GOALS["peak_rss_mb"],
            "ratio <= 5": ratio <= GOALS["ratio"],
        },
    }
    click.echo(json.dumps(result, indent=2))
