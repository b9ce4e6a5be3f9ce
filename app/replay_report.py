"""What the fraud scorer made of a replayed history, read from the lake's bronze outputs.

The stream worker writes every output with the lineage of the input it came from (``_broker_run``,
``_partition``, ``_offset``; dead letters also ``source_topic/partition/offset``), so the outputs of
exactly one replay are the rows whose lineage lies in the offsets that replay was given -- or, with two
stages, whose internal record came after the replay began and holds one of its bids (:func:`scorer_report`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings
from pipelines.ingest.replay import ReplaySummary
from pipelines.stream.rules import ALERT_THRESHOLD

#: a bid counts as flagged from this score on (the gold tables' rule)
FLAG_SCORE = 0.5


@dataclass
class ScorerReport:
    """Counts of one replay's outputs; ``alerts_by_reason`` counts each reason of each alert."""

    bids_sent: int = 0
    bids_scored: int = 0
    flagged_bids: int = 0
    bidders_scored: int = 0
    alerts: int = 0
    bidders_alerted: int = 0
    alerts_by_reason: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    dead_letters_by_error: dict[str, int] = field(default_factory=dict)

    @property
    def alerted_share(self) -> float:
        return self.bidders_alerted / self.bidders_scored if self.bidders_scored else 0.0

    def lines(self) -> list[str]:
        out = [
            f"scorer: {self.bids_scored} of {self.bids_sent} bids scored, {self.bidders_scored} bidders; "
            f"{self.flagged_bids} bids flagged (score >= {FLAG_SCORE}); {self.dead_letters} dead letters",
            f"alerts: {self.alerts} (score >= {ALERT_THRESHOLD}) for {self.bidders_alerted} bidders "
            f"({self.alerted_share:.1%} of the bidders scored)"
            + (
                "; by reason: " + ", ".join(f"{r} {n}" for r, n in self.alerts_by_reason.items()) if self.alerts else ""
            ),
        ]
        out += [f"dead letters: {n} x {error}" for error, n in list(self.dead_letters_by_error.items())[:5]]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "alerted_share": round(self.alerted_share, 4)}


def scorer_report(
    settings: Settings,
    runs: dict[str, str],
    summary: ReplaySummary,
    internal: tuple[str, dict[int, int]] | None = None,
) -> ScorerReport:
    """The report of the replay ``summary`` whose input topics had the broker run ids ``runs``.

    One stage: a bid's outputs carry the lineage of the bid itself. Two stages (``internal``: the internal
    topic's broker run id and, per partition, the group's committed offset there when the replay began): they
    carry the lineage of an internal record, so they are this replay's when that record came after the
    replay began and holds one of the replayed bids (bronze ``bids`` has those by their own lineage).
    """
    if (internal is None) != (settings.stream_topology == "one-stage"):
        raise ValueError("the internal topic's run and start offsets are given with two stages, and only then")
    lake = Lake.from_settings(settings)
    ranges = {key: (summary.first_offsets[key], end) for key, end in summary.end_offsets.items()}
    out = ScorerReport(bids_sent=summary.counts.get("bids", 0))
    bids = {p: r for (t, p), r in ranges.items() if t == "bids"}
    run, lineage, keep_bids, keep_auctions = runs.get("bids"), bids, None, None
    if internal is not None:
        replayed = _rows(lake, "bids", ["bid_id", "auction_id"], runs.get("bids"), bids)
        keep_bids, keep_auctions = set(replayed["bid_id"]), set(replayed["auction_id"])
        run, starts = internal
        lineage = {p: (starts.get(p, 0), 2**62) for p in range(settings.partitions)}
    scored = _rows(lake, "bids-scored", ["bid_id", "bidder_id", "fraud_score"], run, lineage)
    if keep_bids is not None:
        scored = _where(scored, "bid_id", keep_bids)
    out.bids_scored = len(set(scored["bid_id"]))
    out.bidders_scored = len(set(scored["bidder_id"]))
    out.flagged_bids = sum(1 for s in scored["fraud_score"] if s is not None and s >= FLAG_SCORE)
    alerts = _rows(lake, "fraud-alerts", ["alert_id", "bidder_id", "auction_id", "reasons"], run, lineage)
    if keep_auctions is not None:
        alerts = _where(alerts, "auction_id", keep_auctions)
    out.alerts = len(set(alerts["alert_id"]))
    out.bidders_alerted = len(set(alerts["bidder_id"]))
    reasons = Counter(r for rs in alerts["reasons"] for r in rs or [])
    out.alerts_by_reason = dict(reasons.most_common())
    errors: Counter[str] = Counter()
    for topic in ("users", "auctions", "bids"):
        mine = {p: r for (t, p), r in ranges.items() if t == topic}
        letters = _rows(lake, "dead-letters", ["error", "source_topic"], runs.get(topic), mine, lineage="source_")
        errors.update("duplicate bid_id" if e.startswith("duplicate bid_id") else e for e, s in
                      zip(letters["error"], letters["source_topic"], strict=True) if s == topic)  # fmt: skip
    out.dead_letters = sum(errors.values())
    out.dead_letters_by_error = dict(errors.most_common())
    return out


def _where(rows: dict[str, list[Any]], column: str, keep: set[Any]) -> dict[str, list[Any]]:
    """The rows (columns of equal length) whose ``column`` is in ``keep``."""
    mask = [value in keep for value in rows[column]]
    return {name: [v for v, m in zip(values, mask, strict=True) if m] for name, values in rows.items()}


def _rows(
    lake: Lake, topic: str, columns: list[str], run: str | None, ranges: dict[int, tuple[int, int]], lineage: str = "_"
) -> dict[str, list[Any]]:
    """The columns of a bronze output's rows whose input lineage is in ``ranges`` (per partition, end exclusive)."""
    empty: dict[str, list[Any]] = {c: [] for c in columns}
    files = lake.list_files(f"bronze/{topic}")
    if run is None or not ranges or not files:
        return empty
    part, offset = f"{lineage}partition", f"{lineage}offset"
    dataset = ds.dataset(files, filesystem=lake.fs, format="parquet")
    wanted = None
    for partition, (first, end) in ranges.items():
        one = (ds.field(part) == partition) & (ds.field(offset) >= first) & (ds.field(offset) < end)
        wanted = one if wanted is None else wanted | one
    condition = (ds.field("_broker_run") == run) & wanted
    table: pa.Table = dataset.to_table(columns=columns, filter=condition)
    return {c: table.column(c).to_pylist() for c in columns}
