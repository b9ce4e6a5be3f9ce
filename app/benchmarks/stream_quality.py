"""Detection quality of the stream worker: per-bidder precision and recall of alerts against ``fraud_label``.

The generator's events (in event-time order) go through the worker's own processing step
(:class:`pipelines.stream.Processor`, or :class:`pipelines.stream.graph.TwoStageProcessor` for the two-stage
topology) with one state store per partition, exactly as the worker keys them (Kafka's murmur2 partition of
each message key, the internal records' by bidder), so the partition-local state of the real worker is
reproduced without a broker. Two stages: each internal record is processed in its bidder partition right
after the message that produced it (the real worker sees it a few milliseconds later).
``fraud_label`` is read here only, after scoring, as ground truth: a
bidder is a fraudster when any of their bids carries a label (the label names the pattern).
"""

from __future__ import annotations

import tempfile
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipelines.infra.lake import Lake
from pipelines.stream.bronze import BronzeSink, two_stage_tables
from pipelines.stream.graph import BY_BIDDER, Processor, TwoStageProcessor
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

    def count(self, labels: dict[str, str], alerted: set[str]) -> None:
        """The confusion counts of the ``alerted`` bidders against ``labels`` (bidder -> fraud pattern)."""
        for bidder, pattern in labels.items():
            self.fraudsters[pattern] += 1
            if bidder in alerted:
                self.caught[pattern] += 1
        self.true_positive = len(alerted & labels.keys())
        self.false_positive = len(alerted - labels.keys())
        self.false_negative = len(labels.keys() - alerted)

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


#: the topologies the benchmark knows (``AUCTION_STREAM_TOPOLOGY``)
TOPOLOGIES = ("two-stage", "one-stage")
_INTERNAL = "internal"


def evaluate(seed: int, events: int, partitions: int = 4, topology: str = "two-stage") -> Quality:
    """Generate one run, score it as the worker would, and compare alerted bidders with the labels."""
    from pipelines.generate import GeneratorConfig, generate
    from pipelines.generate.partitioning import partition_of

    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        runs = {"users": "u", "auctions": "a", "bids": "b", _INTERNAL: "i"}
        processor: Processor
        if topology == "two-stage":
            destinations, tables = two_stage_tables(_INTERNAL)
            sink = BronzeSink(Lake(tmp), runs, max_rows=10**9, destinations=destinations, json_tables=tables)
            processor = TwoStageProcessor(sink, _INTERNAL)
        else:
            sink = BronzeSink(Lake(tmp), runs, max_rows=10**9)
            processor = Processor(sink)
        stores = [MemoryStores() for _ in range(partitions)]
        offsets: Counter[tuple[str, int]] = Counter()
        labels: dict[str, str] = {}
        alerted: set[str] = set()
        quality = Quality()
        for batch in generate(GeneratorConfig(seed=seed, events=events, partitions=partitions)):
            for topic, key, record in batch:
                pending = deque([(topic, key.encode(), orjson.dumps(record))])
                while pending:
                    name, raw_key, value = pending.popleft()
                    part = partition_of(raw_key.decode(), partitions)
                    offset = offsets[(name, part)]
                    offsets[(name, part)] += 1
                    outs = processor.process(name, part, offset, raw_key, value, 0, stores[part])
                    for out in outs:
                        out_topic, out_key, out_value = out[0], out[1], out[2]
                        if out_topic == "fraud-alerts":
                            alerted.add((out_key or b"").decode())
                            quality.alerts += 1
                        elif out_topic == BY_BIDDER:
                            pending.append((_INTERNAL, out_key or b"", out_value))
                if topic == "bids":
                    quality.bids += 1
                    if record.get("fraud_label"):
                        labels[record["bidder_id"]] = record["fraud_label"]
            sink._buffers.clear()  # rows are not needed here
    quality.count(labels, alerted)
    return quality


#: how one generated run is scored: :func:`evaluate` (in process, in event-time order) or
#: :func:`app.benchmarks.stream_quality_worker.evaluate_worker` (through a real worker on the broker)
Evaluate = Callable[[int, int, int, str], Quality]


def measure(
    seeds: list[int], events: int, partitions: int, topology: str = "two-stage", worker: Evaluate | None = None
) -> dict[str, Any]:
    """Quality per seed and over all of them (``worker``: the real worker's way of scoring a run; default in
    process, :func:`evaluate`)."""
    total = Quality()
    per_seed = {}
    for seed in seeds:
        one = (worker or evaluate)(seed, events, partitions, topology)
        per_seed[str(seed)] = {k: v for k, v in one.report().items() if k != "recall_by_pattern"}
        total.add(one)
    return {"seeds": seeds, "events_per_seed": events, "partitions": partitions, "topology": topology,
            "through": "worker" if worker is not None else "in process", "overall": total.report(),
            "per_seed": per_seed}  # fmt: skip


def sweep(
    seeds: list[int], events: int, partitions: list[int], topology: str, worker: Evaluate | None = None
) -> dict[str, Any]:
    """:func:`measure` at each partition count, and the table of the README (precision, recall, by pattern)."""
    runs = [measure(seeds, events, n, topology, worker) for n in partitions]
    patterns = sorted({p for run in runs for p in run["overall"]["recall_by_pattern"]})
    lines = ["| partitions | precision | recall | " + " | ".join(f"{p} recall" for p in patterns) + " |",
             "|---|---|---|" + "---|" * len(patterns)]  # fmt: skip
    for run in runs:
        overall = run["overall"]
        by = overall["recall_by_pattern"]
        cells = [str(run["partitions"]), str(overall["precision"]), str(overall["recall"])]
        cells += [str(by[p]["recall"]) if p in by else "-" for p in patterns]
        lines.append("| " + " | ".join(cells) + " |")
    recalls = [run["overall"]["recall"] or 0.0 for run in runs]
    return {"seeds": seeds, "events_per_seed": events, "topology": topology, "partitions": partitions,
            "through": "worker" if worker is not None else "in process", "runs": runs,
            "recall_spread": round(max(recalls) - min(recalls), 3), "table": lines}  # fmt: skip
