"""`python -m app bench stream`: the stream worker's throughput, latency and scale-out, as JSON.

Every phase runs on its own embedded broker with the generator's traffic, in this process, so ratios
compare like with like on the same (noisy, 2-core) machine at the same moment:

* ``passthrough``: a plain Quix Streams app copying the same input messages to one topic (the ceiling);
* ``full``: one worker running the whole pipeline (validation, scoring, outputs, bronze) in the two-stage
  topology, and ``one_stage`` the same worker in the one-stage baseline; pass-through, one stage and two run
  ``--rounds`` times, alternating the order, and the figures are the medians;
* ``latency``: the worker while the generator produces at a steady rate; latency is the time from a
  bid's produce timestamp to its ``bids-scored`` record being readable by a consumer (two stages, then the
  one-stage baseline at the same rate);
* ``scale``: one and then two `python -m app stream` processes (one consumer group, 4 partitions), with
  the cores each part used meanwhile (:mod:`app.benchmarks.cpu`) and what that leaves two workers.

Throughput counts from the first to the last message processed (start-up and group joins excluded).
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
from statistics import median
from typing import Any

import click
import orjson

from app.benchmarks.stream_setup import bench_settings, produce_events
from app.broker import EmbeddedBroker
from pipelines.infra.settings import Settings
from pipelines.infra.topics import INPUT_TOPICS, consumer_config, producer_config


def _worker_env(address: str, settings: Settings, lake_url: str = "", group: str = "") -> dict[str, str]:
    """The environment of a `python -m app` subprocess on ``settings`` (optionally another lake and group)."""
    return {
        **os.environ,
        "AUCTION_BROKER_ADDRESS": address,
        "AUCTION_LAKE_URL": lake_url or settings.lake_url,
        "AUCTION_STATE_DIR": str(settings.state_dir),
        "AUCTION_PARTITIONS": str(settings.partitions),
        "AUCTION_CONSUMER_GROUP": group or settings.consumer_group,
        "AUCTION_STREAM_TOPOLOGY": settings.stream_topology,
    }


def passthrough(
    address: str, settings: Settings, ends: dict[tuple[str, int], int], repartition: bool = False
) -> dict[str, float]:
    """A plain Quix app: consume the inputs as bytes, produce each message unchanged to one topic.

    With ``repartition`` the bids are first re-keyed by bidder (``group_by``): the price of per-bidder state.
    """
    from quixstreams import Application
    from quixstreams.models import TopicConfig

    from pipelines.infra.topics import ensure_topics, topic_config

    ensure_topics(address, settings, ("passthrough",))
    remaining, seen = dict(ends), {"n": 0, "first": 0.0, "last": 0.0, "again": 0}
    bids = sum(end for (topic, _), end in ends.items() if topic == "bids") if repartition else 0
    holder: dict[str, Any] = {}

    def on_processed(topic: str, partition: int, offset: int) -> None:
        now = time.time()
        seen["first"] = seen["first"] or now
        seen["last"] = now
        if topic not in INPUT_TOPICS:  # the repartition topic: the bids' second pass
            seen["again"] += 1
        else:
            seen["n"] += 1
            if remaining.get((topic, partition), -1) <= offset + 1:
                remaining.pop((topic, partition), None)
        if not remaining and seen["again"] >= bids:
            holder["app"].stop()

    consumer = {k: v for k, v in consumer_config(address, "x").items() if k not in ("bootstrap.servers", "group.id")}
    producer = {k: v for k, v in producer_config(address).items() if k != "bootstrap.servers"}
    app = Application(
        broker_address=address, consumer_group=settings.consumer_group, auto_offset_reset="earliest",
        consumer_extra_config=consumer, producer_extra_config={**producer, "enable.idempotence": False},
        state_dir=Path(settings.state_dir) / "passthrough", loglevel="WARNING", on_message_processed=on_processed,
        consumer_poll_timeout=0.2,
    )  # fmt: skip
    config = TopicConfig(num_partitions=settings.partitions, replication_factor=1, extra_config=topic_config(settings))
    out = app.topic("passthrough", value_serializer="bytes", key_serializer="bytes", config=config)
    for name in INPUT_TOPICS:
        sdf = app.dataframe(app.topic(name, value_deserializer="bytes", key_deserializer="bytes", config=config))
        if repartition and name == "bids":  # what per-bidder state would cost: every bid through the broker again
            sdf = sdf.group_by(
                lambda value: orjson.loads(value)["bidder_id"],
                name="bidder",
                value_deserializer="bytes",
                value_serializer="bytes",
                key_serializer="str",
                key_deserializer="str",
            )
        sdf.to_topic(out)
    holder["app"] = app
    app.run()
    seconds = max(seen["last"] - seen["first"], 1e-9)
    return {"messages": seen["n"], "seconds": round(seconds, 3), "messages_per_s": round(seen["n"] / seconds)}


def full(
    address: str,
    settings: Settings,
    ends: dict[tuple[str, int], int],
    commit_interval: float = 2.0,
    topology: str = "two-stage",
) -> dict[str, float]:
    """One worker, whole pipeline (``topology``: two-stage or the one-stage baseline), bounded by the
    generator's end offsets (two stages: and by where the internal topic then ends)."""
    from app.stream import WorkerOptions, run_worker

    settings = settings.model_copy(update={"stream_topology": topology})
    summary = run_worker(settings, address, WorkerOptions(stop_at=ends, commit_interval_s=commit_interval))
    seconds = max(summary.last_message_at - summary.first_message_at, 1e-9)
    total = sum(summary.processed.values())
    bids = summary.processed.get("bids", 0)
    return {
        "messages": total,
        "internal_messages": summary.internal_messages,
        "bids": bids,
        "seconds": round(seconds, 3),
        "messages_per_s": round(total / seconds),
        "scored_bids_per_s": round(bids / seconds),
    }


def throughput(
    address: str, root: Path, partitions: int, ends: dict[tuple[str, int], int], rounds: int, commit_interval: float
) -> dict[str, Any]:
    """``rounds`` pass-through and full-pipeline runs over the same messages, alternating which goes first.

    The machine's speed drifts (it is shared), so a single pair can be unfair to either side; each round
    gives a ratio and the figures reported are the medians (every round is listed too; the ratio is that
    of the median round, the upper one of the two middle rounds for an even count). A pass-through with a
    repartition by bidder runs once.
    """
    runs = []
    order = ("passthrough", "one_stage", "full")
    for n in range(rounds):
        pair: dict[str, Any] = {}
        for name in order if n % 2 == 0 else order[::-1]:
            settings = bench_settings(root / f"round{n}", partitions, f"bench-{name.replace('_', '-')}-{n}")
            if name == "passthrough":
                pair[name] = passthrough(address, settings, ends)
            else:
                pair[name] = full(
                    address, settings, ends, commit_interval, "one-stage" if name == "one_stage" else "two-stage"
                )
        pair["full_vs_passthrough"] = round(pair["full"]["messages_per_s"] / pair["passthrough"]["messages_per_s"], 3)
        pair["two_stage_vs_one_stage"] = round(
            pair["full"]["scored_bids_per_s"] / max(pair["one_stage"]["scored_bids_per_s"], 1), 3
        )
        runs.append(pair)
    middle = sorted(runs, key=lambda run: run["full_vs_passthrough"])[len(runs) // 2]
    middle_stages = sorted(runs, key=lambda run: run["two_stage_vs_one_stage"])[len(runs) // 2]
    return {
        "passthrough": {"messages_per_s": round(median(r["passthrough"]["messages_per_s"] for r in runs))},
        "full": {
            "topology": "two-stage",
            "messages_per_s": round(median(r["full"]["messages_per_s"] for r in runs)),
            "scored_bids_per_s": round(median(r["full"]["scored_bids_per_s"] for r in runs)),
        },
        "one_stage": {
            "messages_per_s": round(median(r["one_stage"]["messages_per_s"] for r in runs)),
            "scored_bids_per_s": round(median(r["one_stage"]["scored_bids_per_s"] for r in runs)),
        },
        "two_stage_vs_one_stage": middle_stages["two_stage_vs_one_stage"],
        "full_vs_passthrough": middle["full_vs_passthrough"],
        "rounds": runs,
        "passthrough_repartitioned_by_bidder": passthrough(
            address, bench_settings(root / "repartition", partitions, "bench-repartition"), ends, repartition=True
        ),
    }


def latency(
    address: str, settings: Settings, bids_per_s: float, seconds: float, seed: int, commit_interval: float = 2.0
) -> dict[str, Any]:
    """A `python -m app stream` process and the generator at a steady rate; a reader here measures.

    Latency is the time from a bid's produce timestamp to its ``bids-scored`` record being read back.
    Worker, generator and reader are separate processes (as in production): a reader thread inside the
    worker's process would take the worker's GIL and inflate what it measures.
    """
    from confluent_kafka import Consumer

    from pipelines.infra.topics import ensure_topics

    ensure_topics(address, settings)
    bid_share = 0.78  # the generator's share of bids among its events (users, auctions, closes, bids)
    rate = bids_per_s / bid_share
    env = _worker_env(address, settings)
    cmd = [sys.executable, "-m", "app", "stream", "--commit-interval", str(commit_interval)]
    worker = subprocess.Popen(cmd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    reader = Consumer({**consumer_config(address, "bench-latency-reader"), "enable.auto.commit": False})
    reader.subscribe(["bids-scored"])
    samples: list[float] = []
    try:
        time.sleep(8)  # let the worker join its group first (~3 s with session.timeout.ms=6000)
        cmd = [sys.executable, "-m", "app", "generate", "--events", str(int(rate * seconds)), "--rate", str(rate),
               "--seed", str(seed), "--partitions", str(settings.partitions), "--no-progress"]  # fmt: skip
        generator = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        quiet_since = None
        while True:
            msg = reader.poll(0.2)
            now = time.time() * 1000
            if msg is None or msg.error():
                if generator.poll() is not None:
                    quiet_since = quiet_since or now
                    if now - quiet_since > 3000:
                        break
                continue
            quiet_since = None
            samples.append(now - msg.timestamp()[1])
        if generator.returncode:
            return {"error": f"the generator failed with exit code {generator.returncode}"}
    finally:
        reader.close()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    steady = sorted(samples[len(samples) // 10 :])  # drop the first 10 %: warm-up
    if not steady:
        return {"error": "no scored bids were read"}

    def pct(p: float) -> float:
        return round(steady[min(len(steady) - 1, int(p * len(steady)))], 1)

    return {
        "bids_per_s": bids_per_s,
        "scored": len(samples),
        "p50_ms": pct(0.5),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def scale(settings: Settings, workers: int, events: int, seed: int, commit_interval: float = 2.0) -> dict[str, Any]:
    """``workers`` `python -m app stream` processes on a fresh broker; the data is produced once all joined.

    Starting the workers on full topics would measure the rebalance (the first to join takes every
    partition until the second arrives); here both are in the group before the first message exists. The
    generator runs in this process meanwhile and takes CPU from the workers (two of them have no core to
    spare on a 2-core machine), so the figure is the workers' combined rate in the window after the last
    event was produced while every worker was still busy (from the marks each worker records every
    ``MARK_EVERY`` messages); ``first_to_last`` is the plain rate over the whole run, producer included.
    The workers are stopped (SIGTERM) once their group has committed every end offset. ``cores`` is the
    CPU the workers' threads and the broker used in that window (:mod:`app.benchmarks.cpu`).
    """
    from app.benchmarks.cpu import CpuSampler
    from app.runtime import wait_drained
    from app.stream import MARK_EVERY
    from pipelines.infra.topics import ensure_topics

    with EmbeddedBroker() as broker:
        ensure_topics(broker.address, settings)
        env = _worker_env(broker.address, settings, lake_url=settings.lake_url + f"-{workers}")
        cmd = [sys.executable, "-m", "app", "stream", "--commit-interval", str(commit_interval)]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]  # fmt: skip
        assert broker.process is not None
        with CpuSampler([p.pid for p in procs], broker.process.pid) as cpu:
            try:
                time.sleep(10)  # start-up and group join (~3 s each with session.timeout.ms=6000)
                produced = produce_events(broker.address, events, seed, settings.partitions)
                produced_at = time.time()
                if not wait_drained(broker.address, settings, produced.end_offsets, timeout_s=600):
                    raise TimeoutError(f"{workers} worker(s) did not commit every end offset in 600 s")
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGTERM)
            summaries = [json.loads(p.communicate(timeout=120)[0].decode().strip().splitlines()[-1]) for p in procs]
    first = min(s["first_message_at"] for s in summaries if s["first_message_at"])
    last = max(s["last_message_at"] for s in summaries)
    total = sum(sum(s["processed"].values()) + s.get("internal_messages", 0) for s in summaries)  # all marked
    bids = sum(s["processed"].get("bids", 0) for s in summaries)
    bid_share = bids / max(total, 1)
    busy_until = min(s["last_message_at"] for s in summaries)
    window = busy_until - produced_at
    in_window = sum(MARK_EVERY * sum(produced_at <= t <= busy_until for t in s["marks"]) for s in summaries)
    steady = round(in_window * bid_share / window) if window > 0.5 and in_window else None
    return {
        "workers": workers,
        "messages": total,
        "scored_bids_per_s": steady,
        "window_s": round(window, 3),
        "cores": cpu.cores(produced_at, busy_until),
        "first_to_last": {
            "seconds": round(last - first, 3),
            "scored_bids_per_s": round(bids / max(last - first, 1e-9)),
        },
        "bids_per_worker": [s["processed"].get("bids", 0) for s in summaries],
    }


def _ceiling(one: dict[str, Any]) -> float | None:
    """What two workers could do over one on this machine if CPU were all that limits them: the machine's
    cores over the cores the one-worker run used (its threads and the broker), at most 2.

    An estimate, not a bound: it assumes the CPU per bid stays what it was with one worker. Fixed costs (the
    broker answering idle polls) do not double with two workers, and contention between busy cores makes
    each slower; either way, a two / one near this figure means the machine, not the workers, set it.
    """
    cores = one.get("cores")
    if not cores or cores["total"] <= 0:
        return None
    return round(min(2.0, (os.cpu_count() or 1) / cores["total"]), 3)


@click.command("stream")
@click.option("--events", default=150_000, show_default=True, help="Generated events for the throughput phases.")
@click.option("--partitions", "partitions_text", default="4", show_default=True,
              help="Partitions per topic; with --quality a comma list sweeps them (e.g. 1,4,16,64).")  # fmt: skip
@click.option("--rates", default="10000,5000", show_default=True, help="Bids/s of the latency phases.")
@click.option("--latency-seconds", default=15.0, show_default=True, help="Length of the latency phase.")
@click.option(
    "--scale-events",
    default=400_000,
    show_default=True,
    help="Generated events for the one-vs-two workers phase (enough to outlast the producer).",
)
@click.option("--seed", default=1, show_default=True)
@click.option("--commit-interval", default=2.0, show_default=True,
              help="The workers' seconds between checkpoints (the worker's default is 2).")  # fmt: skip
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(min=1),
              help="Pass-through and full runs, alternating (the figures are their medians).")  # fmt: skip
@click.option("--skip-throughput", is_flag=True, help="Skip the pass-through and full-pipeline phase.")
@click.option("--skip-scale", is_flag=True, help="Skip the one-vs-two worker processes phase.")
@click.option("--skip-latency", is_flag=True, help="Skip the steady-rate latency phase.")
@click.option("--quality", is_flag=True, help="Only detection quality: per-bidder precision/recall of alerts.")
@click.option("--quality-seeds", default="101,102,103", show_default=True,
              help="Generator seeds for --quality (the rules were tuned on 1,2,3).")  # fmt: skip
@click.option("--quality-events", default=60_000, show_default=True, help="Events per seed for --quality.")
@click.option("--worker", "through_worker", is_flag=True,
              help="With --quality: through a real worker on the embedded broker (alerts read from bronze) "
              "instead of in process in event-time order.")  # fmt: skip
@click.option("--topology", "topologies", default="two-stage", show_default=True,
              help="With --quality: the topologies measured, a comma list of two-stage, one-stage.")  # fmt: skip
def command(
    events: int,
    partitions_text: str,
    rates: str,
    latency_seconds: float,
    scale_events: int,
    seed: int,
    commit_interval: float,
    rounds: int,
    skip_throughput: bool,
    skip_scale: bool,
    skip_latency: bool,
    quality: bool,
    quality_seeds: str,
    quality_events: int,
    topologies: str,
    through_worker: bool,
) -> None:
    """Stream worker: scored bids/s vs a Quix pass-through, latency at a steady rate, two workers vs one.

    With --quality: detection quality of the alerts against the generator's fraud labels instead.
    """
    try:
        counts = [int(n) for n in partitions_text.split(",") if n.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{partitions_text!r} is not a comma list of numbers", param_hint="--partitions"
        ) from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("give at least one partition count, each at least 1", param_hint="--partitions")
    if quality:
        from app.benchmarks.stream_quality import TOPOLOGIES, sweep

        seeds = [int(s) for s in quality_seeds.split(",") if s.strip()]
        wanted = [t.strip() for t in topologies.split(",") if t.strip()]
        if not wanted or any(t not in TOPOLOGIES for t in wanted):
            raise click.BadParameter(f"{topologies!r}: give one or more of {', '.join(TOPOLOGIES)}",
                                     param_hint="--topology")  # fmt: skip
        from app.benchmarks.stream_quality_worker import evaluate_worker

        worker = evaluate_worker if through_worker else None
        reports = [sweep(seeds, quality_events, counts, topology, worker) for topology in wanted]
        goals = {"recall": 0.93, "precision": 0.85, "recall_spread": 0.03}
        click.echo(json.dumps({"benchmark": "stream-quality", "sweeps": reports, "goals": goals}, indent=2))
        for report in reports:  # the table, for people (stderr: stdout stays one JSON document)
            click.echo(f"{report['topology']} ({report['through']}), seeds {report['seeds']}, "
                       f"{quality_events} events each:", err=True)  # fmt: skip
            for line in report["table"]:
                click.echo(line, err=True)
        return
    if len(counts) > 1:
        raise click.BadParameter("a sweep of partition counts is for --quality only", param_hint="--partitions")
    partitions = counts[0]
    result: dict[str, Any] = {"benchmark": "stream", "events": events, "partitions": partitions,
                              "commit_interval_s": commit_interval, "cpus": os.cpu_count()}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        root = Path(tmp)
        if not skip_throughput:
            with EmbeddedBroker() as broker:
                produced = produce_events(broker.address, events, seed, partitions)
                ends = produced.end_offsets
                result.update(throughput(broker.address, root, partitions, ends, rounds, commit_interval))
        if not skip_scale:
            one = scale(bench_settings(root / "scale", partitions, "x"), 1, scale_events, seed, commit_interval)
            two = scale(bench_settings(root / "scale", partitions, "x"), 2, scale_events, seed, commit_interval)
            steady = (one["scored_bids_per_s"], two["scored_bids_per_s"])
            ratio = round(steady[1] / steady[0], 3) if all(steady) else None
            result["scale"] = {"one": one, "two": two, "two_vs_one": ratio, "two_vs_one_ceiling": _ceiling(one)}
        if not skip_latency:
            result["latency"] = []
            for n, bids_per_s in enumerate(float(r) for r in rates.split(",") if r.strip()):
                for topology in ("two-stage", "one-stage"):  # the baseline at the same rate, right after
                    with EmbeddedBroker() as broker:
                        settings = bench_settings(root / f"latency{n}-{topology}", partitions, "bench-latency")
                        settings = settings.model_copy(update={"stream_topology": topology})
                        phase = latency(
                            broker.address, settings, bids_per_s, latency_seconds, seed + 1, commit_interval
                        )
                        result["latency"].append({"topology": topology, **phase})
    result["goals"] = {
        "scored_bids_per_s_per_worker": 25_000,
        "two_stage_vs_one_stage": 0.7,
        "p99_ms_at_5k_bids_per_s": 300,
        "two_vs_one": 1.7,
    }
    click.echo(json.dumps(result, indent=2))
