"""Detection quality of the real stream worker: a bounded run on the embedded broker, alerts read from bronze.

:mod:`app.benchmarks.stream_quality` scores the generator's events in process and in event-time order. The
worker does not see them in that order: with two stages a bidder's bids reach the bidder stage from every
auction partition as each partition's pass sends them, and order-dependent features then differ (a real
defect was found this way: velocity counted later bids, precision 0.815 in the worker against 0.943 in
process). This measures what the worker makes of the same events: produce them, run one worker to their end
offsets, and compare the bidders of bronze ``fraud-alerts`` with the ``fraud_label`` of bronze ``bids``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow.dataset as ds

from app.benchmarks.stream_quality import Quality
from pipelines.infra.lake import Lake


def _column(lake: Lake, topic: str, columns: list[str]) -> list[dict[str, object]]:
    files = lake.list_files(f"bronze/{topic}")
    if not files:
        return []
    rows: list[dict[str, object]] = (
        ds.dataset(files, filesystem=lake.fs, format="parquet").to_table(columns=columns).to_pylist()
    )
    return rows


def evaluate_worker(seed: int, events: int, partitions: int = 4, topology: str = "two-stage") -> Quality:
    """One generated run through a real worker (its own embedded broker and lake)."""
    from app.benchmarks.stream_setup import bench_settings, produce_events
    from app.broker import EmbeddedBroker
    from app.stream import WorkerOptions, run_worker

    with tempfile.TemporaryDirectory(prefix="quality-worker-") as tmp, EmbeddedBroker() as broker:
        produced = produce_events(broker.address, events, seed, partitions)
        settings = bench_settings(Path(tmp), partitions, f"quality-{seed}", topology)
        summary = run_worker(settings, broker.address, WorkerOptions(stop_at=produced.end_offsets))
        if summary.stopped_by != "end offsets":
            raise RuntimeError(f"the worker stopped by {summary.stopped_by} before the generated run's end")
        lake = Lake.from_settings(settings)
        bids = _column(lake, "bids", ["bidder_id", "fraud_label"])
        labels = {str(r["bidder_id"]): str(r["fraud_label"]) for r in bids if r["fraud_label"]}
        alerts = _column(lake, "fraud-alerts", ["bidder_id"])
        alerted = {str(r["bidder_id"]) for r in alerts}
    quality = Quality(alerts=len(alerts), bids=len(bids))
    quality.count(labels, alerted)
    return quality
