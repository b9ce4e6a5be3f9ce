"""`python -m app bench generate`: generator throughput to bronze files and to the broker, and peak memory.

Each stage runs in a fresh child process (spawned), so its peak RSS (``ru_maxrss``) is its own:

1. **simulate** -- the pure simulation into Arrow tables (``generate_tables.build``), no I/O;
2. **files** -- ``to_lake`` end to end into a temporary local lake (simulation + bronze Parquet, zstd);
3. **broker** -- ``to_broker`` end to end into an embedded tansu broker started in that child
   (simulation + JSON + produce + waiting for every delivery report). The broker is a separate process
   on the same cores; its memory is not counted.

Prints one JSON document. Goals (issue 2): >= 200k events/s to files, >= 100k events/s to the broker.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import click

GOALS = {"files_events_per_s": 200_000, "broker_events_per_s": 100_000}


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _stage(name: str, events: int, seed: int, partitions: int) -> dict[str, Any]:
    """One stage, in a child process: its events/s and the child's peak RSS."""
    from pipelines.generate import GeneratorConfig
    from pipelines.generate.world import pools

    pools()  # Faker pools are built once per process: a fixed start-up cost, not throughput
    config = GeneratorConfig(seed=seed, events=events, partitions=partitions)
    baseline = _peak_rss_mb()
    if name == "simulate":
        from pipelines.generate.tables import build

        began = time.perf_counter()
        counts = build(config).counts
        result: dict[str, Any] = {"seconds": time.perf_counter() - began, "counts": counts}
    elif name == "files":
        from pipelines.generate import to_lake
        from pipelines.infra.lake import Lake

        with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
            summary = to_lake(config, Lake(os.path.join(tmp, "lake")))
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs)
        result = {"seconds": summary.seconds, "counts": summary.counts, "files": summary.files,
                  "bytes": size}  # fmt: skip
    else:
        from app.broker import EmbeddedBroker
        from pipelines.generate import to_broker
        from pipelines.infra.settings import load_settings

        with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp, EmbeddedBroker() as broker:
            settings = load_settings(
                lake_url=tmp, state_dir=f"{tmp}/state", runtime_dir=f"{tmp}/run", partitions=partitions
            )
            summary = to_broker(config, broker.address, settings=settings)
        result = {"seconds": summary.seconds, "counts": summary.counts, "partitions": partitions}
    result["events"] = sum(result["counts"].values())
    result["events_per_s"] = round(result["events"] / result["seconds"])
    result["seconds"] = round(result["seconds"], 3)
    result["peak_rss_mb"] = _peak_rss_mb()
    result["rss_before_mb"] = baseline
    return result


@click.command("generate")
@click.option("--events", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Events for the simulate and files stages.")  # fmt: skip
@click.option("--broker-events", type=click.IntRange(min=1), default=500_000, show_default=True,
              help="Events for the broker stage.")  # fmt: skip
@click.option("--partitions", type=click.IntRange(1, 256), default=4, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
def command(events: int, broker_events: int, partitions: int, seed: int) -> None:
    """Generator throughput: events/s to files and to the embedded broker, peak memory (JSON)."""
    stages = {"simulate": events, "files": events, "broker": broker_events}
    results: dict[str, Any] = {}
    for name, count in stages.items():
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            results[name] = pool.submit(_stage, name, count, seed, partitions).result()
    report = {
        "benchmark": "generate",
        "cpus": os.cpu_count(),
        **results,
        "goals": GOALS,
        "met": {
            "files_events_per_s": results["files"]["events_per_s"] >= GOALS["files_events_per_s"],
            "broker_events_per_s": results["broker"]["events_per_s"] >= GOALS["broker_events_per_s"],
        },
    }
    click.echo(json.dumps(report, indent=2))
