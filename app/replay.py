"""`python -m app import PATH --to broker`: replay a history through the stream worker, report what it made.

Which worker scores the replay depends on the broker (the same rule as every command's, app/broker.py):

- a configured broker (``AUCTION_BROKER_ADDRESS``) or the embedded broker of a running ``python -m app run``:
  the workers already consuming score it; ``--wait`` waits until their consumer group has committed past
  every replayed message (so its bronze is written) and prints the scorer's report;
- no broker around: the command starts the embedded broker (it lives as long as the command) and runs one
  stream worker in this process until the replay is consumed, then prints the report.

The report (:mod:`app.replay_report`) reads the lake's bronze outputs of exactly the replayed offsets.
Silver and gold come from ``python -m app batch`` (under ``run``, the scheduler's refresh).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from app.replay_report import ScorerReport, scorer_report
from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings
from pipelines.infra.topics import INPUT_TOPICS, bidder_topic, broker_run_id, committed_offsets, internal_ends
from pipelines.ingest.files import ImportReport
from pipelines.ingest.replay import ReplaySummary, run_replay

Echo = Callable[[str], None]


def replay(
    settings: Settings,
    path: str,
    fmt: str | None,
    topic: str,
    start: Any,
    speed: float | None,
    wait: bool,
    echo: Echo,
) -> tuple[ImportReport, ReplaySummary, ScorerReport | None]:
    """Send the file's events to the broker; score them here when no worker can (see the module doc)."""
    from app.broker import broker_address, running_embedded_broker
    from app.stream import WorkerOptions, run_worker

    if speed is not None and speed <= 0:
        raise UserError("--speed must be more than 0 (event seconds per wall-clock second)")
    own = not settings.broker_address and running_embedded_broker(settings) is None
    two_stage = settings.stream_topology == "two-stage"
    internal = bidder_topic(settings.consumer_group)
    with broker_address(settings, attach=True) as address:
        # two stages: the replay's outputs are the internal records' from where the group stands now on
        starts = {}
        if two_stage:
            done = committed_offsets(address, settings.consumer_group, settings.broker_timeout_s)
            starts = {p: offset for (name, p), offset in done.items() if name == internal}
        report, summary = run_replay(settings, address, path, fmt, topic, start, speed)
        for line in report.problems():
            echo(line)
        echo(report.summary().replace("imported", "read", 1))
        echo(summary.line())
        if own:
            echo("no stream worker runs on this broker: scoring the replay here")
            run_worker(settings, address, WorkerOptions(stop_at=summary.end_offsets, commit_interval_s=1.0))
            gc.collect()  # the worker's Kafka clients go while their broker is up (no "connection refused" logs)
        elif wait:
            wait_scored(address, settings, summary.end_offsets, two_stage)
        else:
            echo(f"the stream workers of group {settings.consumer_group} score it (--wait waits and reports)")
            return report, summary, None
        runs = {name: broker_run_id(address, name, settings.broker_timeout_s) for name in INPUT_TOPICS}
        outputs = (broker_run_id(address, internal, settings.broker_timeout_s), starts) if two_stage else None
    scored = scorer_report(settings, runs, summary, outputs)
    for line in scored.lines():
        echo(line)
    echo("silver and gold: python -m app batch (under `python -m app run` the scheduler refreshes them)")
    return report, summary, scored


def wait_scored(address: str, settings: Settings, ends: dict[tuple[str, int], int], two_stage: bool = False) -> None:
    """Wait until the consumer group has committed past ``ends``; one line if it stops making progress.

    Two stages: then also past where the internal topic ends once those inputs are committed
    (:func:`pipelines.infra.topics.internal_ends`).
    """
    ends = dict(ends)
    patience = settings.broker_outage_s
    last_progress, best = time.monotonic(), -1
    while True:
        try:
            done = committed_offsets(address, settings.consumer_group, settings.broker_timeout_s)
        except Exception:  # the broker is briefly unavailable: the same patience applies
            done = {}
        left = sum(max(0, end - done.get(key, 0)) for key, end in ends.items())
        if left == 0 and two_stage:
            ends.update(internal_ends(address, settings, done))
            two_stage = False
            continue
        if left == 0:
            return
        progress = sum(min(end, done.get(key, 0)) for key, end in ends.items())
        if progress > best:
            best, last_progress = progress, time.monotonic()
        elif time.monotonic() - last_progress > patience:
            raise UserError(
                f"no stream worker of group {settings.consumer_group} consumed the replay for {patience:g} s "
                f"({left} messages left): start `python -m app stream` (or `run`) and re-run with --wait"
            )
        time.sleep(0.5)
