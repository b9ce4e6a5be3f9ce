"""Detection quality of the stream worker: per-bidder precision and recall of alerts against ``fraud_label``.

The generator's events (in event-time order) go through the worker's own processing step
(:class:`pipelines.stream.Processor`) with one state store per partition, exactly as the worker keys
them (Kafka's murmur2 partition of each message key), so the partition-local state of the real worker
is reproduced without a broker. ``fraud_label`` is read here only, after scoring, as ground truth: a
bidder is a fraudster when any of their bids carries a label (the label names the pattern).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipelines.infra.lake import Lake
from pipelines.stream.bronze import BronzeSink
from pipelines.stream.graph import Processor
from pipelines.stream.score import MemoryStores


@dataclass
class Quality:
    """Per-bidder confusion counts of one or more generated runs."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    fraudsters: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    bids: int = 0

    def add(self, other: Quality) -> None:
        self.true_positive += other.true_positive
        self.false_positive += other.false_positive
        self.false_negative += other.false_negative
        self.fraudsters.update(other.fraudsters)
        self.caught.update(other.caught)
        self.alerts += other.alerts
        self.bids += other.bids

    def report(self) -> dict[str, Any]:
        flagged = self.true_positive + self.false_positive
        actual = self.true_positive + self.false_negative
        return {
            "bids": self.bids,
            "alerts": self.alerts,
            "fraudsters": actual,
            "flagged_bidders": flagged,
            "precision": round(self.true_positive / flagged, 3) if flagged else None,
            "recall": round(self.true_positive / actual, 3) if actual else None,
            "recall_by_pattern": {
                p: {"fraudsters": n, "caught": self.caught[p], "recall": round(self.caught[p] / n, 3)}
                for p, n in sorted(self.fraudsters.items())
            },
        }


def evaluate(seed: int, events: int, partitions: int = 4) -> Quality:
    """Generate one run, score it as the worker would, and compare alerted bidders with the labels."""
    from pipelines.generate import GeneratorConfig, generate
    from pipelines.generate.partitioning import partition_of

    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        sink = BronzeSink(Lake(tmp), {"users": "u", "auctions": "a", "bids": "b"}, max_rows=10**9)
        processor = Processor(sink)
        stores = [MemoryStores() for _ in range(partitions)]
        offsets: Counter[tuple[str, int]] = Counter()
        labels: dict[str, str] = {}
        alerted: set[str] = set()
        quality = Quality()
        for batch in generate(GeneratorConfig(seed=seed, events=events, partitions=partitions)):
            for topic, key, record in batch:
                part = partition_of(key, partitions)
                offset = offsets[(topic, part)]
                offsets[(topic, part)] += 1
                outs = processor.process(topic, part, offset, key.encode(), orjson.dumps(record), 0, stores[part])
                for out_topic, out_key, _ in outs:
                    if out_topic == "fraud-alerts":
                        alerted.add((out_key or b"").decode())
                        quality.alerts += 1
                if topic == "bids":
                    quality.bids += 1
                    if record.get("fraud_label"):
                        labels[record["bidder_id"]] = record["fraud_label"]
            sink._buffers.clear()  # rows are not needed here
    for bidder, pattern in labels.items():
        quality.fraudsters[pattern] += 1
        if bidder in alerted:
            quality.caught[pattern] += 1
    quality.true_positive = len(alerted & labels.keys())
    quality.false_positive = len(alerted - labels.keys())
    quality.false_negative = len(labels.keys() - alerted)
    return quality


def measure(seeds: list[int], events: int, partitions: int) -> dict[str, Any]:
    """Quality per seed and over all of them."""
    total = Quality()
    per_seed = {}
    for seed in seeds:
        one = evaluate(seed, events, partitions)
        per_seed[str(seed)] = {k: v for k, v in one.report().items() if k != "recall_by_pattern"}
        total.add(one)
    return {"seeds": seeds, "events_per_seed": events, "partitions": partitions, "overall": total.report(),
            "per_seed": per_seed}  # fmt: skip
