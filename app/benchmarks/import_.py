"""`python -m app bench import`: replaying a history through the broker, and the history's time to gold.

The history is an eBay-format CSV (the public online-auctions columns) made from the generator's
marketplace (``--bids`` bids, seeded; one auction per generated auction, bidtime = days since it opened,
every tenth bidder's rating ``NA``, a few ``Private`` bidders), written once to a temporary directory.
Each round measures, on fresh lakes and a fresh embedded broker (4 partitions), alternating which of
the two goes first (the machine is shared: ``--rounds`` gives the spread):

1. **lake** (the baseline): ``import --to lake`` of the file, then the batch (silver + gold);
2. **replay**: ``import --to broker`` of the same file while one stream worker (``python -m app stream``,
   a child process started and warmed up before) consumes; the replay's events/s count the produce
   only (from the first message to the last acknowledgement);
3. **to gold**: from the start of the replay until the worker committed past its last message
   (``--wait``), then the batch: the end-to-end time of a history to ``gold.fraud_daily``
   (``read_and_drain_s``: reading and translating the file before the produce, and the worker's tail
   after the last acknowledgement).

Prints one JSON document; ``to_gold_over_lake`` is the ratio of 3 to 1, measured in the same round.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click


def write_history(path: Path, bids: int, seed: int) -> int:
    """An eBay-format CSV of about ``bids`` generated bids; returns the number of rows written."""
    import polars as pl

    from pipelines.generate import GeneratorConfig
    from pipelines.generate.tables import build

    built = build(GeneratorConfig(seed=seed, events=int(bids * 1.4) + 100, days=7.0))
    auctions = pl.from_arrow(built.tables["auctions"])
    assert isinstance(auctions, pl.DataFrame)
    facts = auctions.filter(pl.col("status") == "closed").select(
        "auction_id", "start_time", "end_time", "start_price", "final_price", "category"
    )
    frame = pl.from_arrow(built.tables["bids"])
    assert isinstance(frame, pl.DataFrame)
    top = frame.group_by("auction_id").agg(pl.col("amount").max().alias("_top"))
    joined = frame.join(facts, on="auction_id", maintain_order="left").join(top, on="auction_id").head(bids)
    day_ms = 86_400_000
    bidder_no = pl.col("bidder_id").hash(seed) % 100
    rows = joined.select(
        pl.col("auction_id").str.replace_all(r"[^0-9A-Za-z]", "").alias("auctionid"),
        pl.col("amount").cast(pl.String).alias("bid"),
        ((pl.col("bid_time") - pl.col("start_time")).dt.total_milliseconds() / day_ms).round(6).alias("bidtime"),
        pl.when(bidder_no < 1).then(pl.lit("Private")).otherwise(pl.col("bidder_id")).alias("bidder"),
        pl.when(bidder_no % 10 == 3).then(pl.lit("NA")).otherwise((bidder_no * 7 % 500).cast(pl.String))
        .alias("bidderrate"),
        pl.col("start_price").cast(pl.String).alias("openbid"),
        pl.coalesce(pl.col("final_price"), pl.col("_top")).cast(pl.String).alias("price"),
        pl.col("category").alias("item"),
        (((pl.col("end_time") - pl.col("start_time")).dt.total_milliseconds() + day_ms - 1) // day_ms)
        .clip(1).cast(pl.String).add(" day auction").alias("auction_type"),
    )  # fmt: skip
    rows.write_csv(path)
    return rows.height


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app", "stream"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def _lake_phase(history: Path, tmp: str) -> dict[str, Any]:
    """The baseline: the file straight into bronze, then silver and gold."""
    from app.batch import run_batch
    from pipelines.infra.settings import load_settings
    from pipelines.ingest.files import run_import

    settings = load_settings(lake_url=f"{tmp}/lake", state_dir=f"{tmp}/state", runtime_dir=f"{tmp}/run")
    began = time.perf_counter()
    imported = run_import(settings, str(history), "ebay")
    import_s = time.perf_counter() - began
    run_batch(settings)
    return {"import_s": round(import_s, 2), "to_gold_s": round(time.perf_counter() - began, 2),
            "events": sum(imported.imported.values())}  # fmt: skip


def _broker_phase(history: Path, warmup: Path, tmp: str, partitions: int) -> dict[str, Any]:
    """The file replayed to a fresh embedded broker while one `python -m app stream` scores it, then the batch."""
    from app.batch import run_batch
    from app.broker import EmbeddedBroker
    from app.replay import replay
    from pipelines.infra.settings import load_settings

    with EmbeddedBroker() as broker:
        settings = load_settings(lake_url=f"{tmp}/lake", state_dir=f"{tmp}/state", runtime_dir=f"{tmp}/run",
                                 broker_address=broker.address, partitions=partitions)  # fmt: skip
        env = {**os.environ, "AUCTION_BROKER_ADDRESS": broker.address, "AUCTION_LAKE_URL": str(settings.lake_url),
               "AUCTION_STATE_DIR": str(settings.state_dir), "AUCTION_RUNTIME_DIR": str(settings.runtime_dir),
               "AUCTION_PARTITIONS": str(partitions)}  # fmt: skip
        worker = _worker(env)
        try:
            quiet = lambda line: None  # noqa: E731
            replay(settings, str(warmup), "ebay", "bids", None, None, True, quiet)  # the worker has joined
            began = time.perf_counter()
            _, sent, scored = replay(settings, str(history), "ebay", "bids", None, None, True, quiet)
            scored_s = time.perf_counter() - began
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(120)
    batch = run_batch(settings)
    to_gold_s = time.perf_counter() - began
    events = sum(sent.counts.values())
    return {
        "replay": {"events": events, "produce_s": round(sent.seconds, 2), "events_per_s": round(events / sent.seconds)},
        "to_gold": {"read_and_drain_s": round(scored_s - sent.seconds, 2), "scored_s": round(scored_s, 2),
                    "batch_s": round(to_gold_s - scored_s, 2), "total_s": round(to_gold_s, 2),
                    "fraud_daily_rows": batch.gold.get("fraud_daily", 0)},
        "scorer": scored.as_dict() if scored else None,
    }  # fmt: skip


def run(bids: int, seed: int, partitions: int, rounds: int = 1) -> dict[str, Any]:
    """Every round measures both phases on fresh lakes and brokers, alternating which goes first."""
    out: dict[str, Any] = {"benchmark": "import", "cpus": os.cpu_count(), "partitions": partitions, "rounds": []}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        history, warmup = Path(tmp) / "history.csv", Path(tmp) / "warmup.csv"
        out["rows"] = write_history(history, bids, seed)
        write_history(warmup, 200, seed + 1)
        out["file_mb"] = round(history.stat().st_size / 2**20, 1)
        for number in range(rounds):
            result: dict[str, Any] = {"lake_first": number % 2 == 0}
            for phase in ("lake", "broker") if number % 2 == 0 else ("broker", "lake"):
                where = f"{tmp}/{number}-{phase}"
                if phase == "lake":
                    result["lake"] = _lake_phase(history, where)
                else:
                    result.update(_broker_phase(history, warmup, where, partitions))
            result["to_gold_over_lake"] = round(result["to_gold"]["total_s"] / result["lake"]["to_gold_s"], 2)
            out["rounds"].append(result)
    for key, pick in (("replay_events_per_s", lambda r: r["replay"]["events_per_s"]),
                      ("to_gold_s", lambda r: r["to_gold"]["total_s"]),
                      ("lake_to_gold_s", lambda r: r["lake"]["to_gold_s"]),
                      ("to_gold_over_lake", lambda r: r["to_gold_over_lake"])):  # fmt: skip
        values = [pick(r) for r in out["rounds"]]
        out[key] = {"min": min(values), "max": max(values)}
    return out


@click.command("import")
@click.option("--bids", type=click.IntRange(min=100), default=200_000, show_default=True,
              help="Bids in the generated eBay-format history.")  # fmt: skip
@click.option("--partitions", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 10), default=2, show_default=True,
              help="Measurements of both phases, alternating which goes first.")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True)
def command(bids: int, partitions: int, rounds: int, seed: int) -> None:
    """`import --to broker` throughput and a history's end-to-end time to gold with one stream worker (JSON)."""
    click.echo(json.dumps(run(bids, seed, partitions, rounds), indent=2, default=str))
