"""`python -m app import`: historical data into bronze, bad rows into quarantine, counts out.

Formats: the project's own ``csv`` / ``parquet`` / ``jsonl`` files (columns = the contract fields of
``--topic``, default ``bids``; broker metadata columns starting with ``_`` are ignored) and ``ebay``, the
public online-auctions CSV (see :mod:`pipelines.import_ebay`).

Events land in bronze exactly as if a broker had delivered them::

    bronze/<topic>/date=<event date>/<run>-0-<first>-<last>.parquet

where ``run`` is ``imp`` + a hash of the file's bytes, the format and the options, and the offsets number
the topic's events in time order. Importing the same file again therefore rewrites the same files with
the same rows: imports are idempotent. A different file (or ``--start``) is a different run.

Rows that break a rule do not vanish: they go to ``quarantine/import/date=<import day>/<run>.parquet``
with the file, the row number, the rule and the reason (a re-import replaces that run's quarantine).
Bids whose auction is neither in this import nor in the lake's bronze auctions are quarantined as
``unknown_auction``: import auctions (``--topic auctions``) and users before their bids. Bidders are
not checked here; silver quarantines bids of unknown users for integrity.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from app.errors import UserError
from app.lake import Lake, bronze_file_name, date_partition
from app.settings import Settings
from pipelines.contracts import TOPIC_KEYS, Bid, Event, bronze_schema, row_for_parquet
from pipelines.import_contract import IMPORT_TOPICS, contract_columns, validate_rows
from pipelines.import_ebay import EBAY_COLUMNS, translate
from pipelines.import_read import Reject, Row, check_columns, guess_format, open_rows, read_bytes

DEFAULT_START = dt.date(2026, 1, 5)
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("import_run", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("format", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
        pa.field("import_time", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)


@dataclass
class ImportReport:
    """What an import did: rows read, events written per topic, rows quarantined (and where)."""

    source: str
    fmt: str
    run: str
    rows_read: int = 0
    imported: dict[str, int] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    quarantine_file: str | None = None

    def summary(self) -> str:
        counts = ", ".join(f"{topic} {n}" for topic, n in self.imported.items()) or "nothing"
        text = f"imported {self.source} ({self.fmt}, run {self.run}): {self.rows_read} rows read; {counts}"
        text += f"; {len(self.rejects)} quarantined"
        if self.rejects:
            rules = Counter(r.rule for r in self.rejects)
            text += " (" + ", ".join(f"{rule} {n}" for rule, n in sorted(rules.items())) + ")"
            text += f" -> {self.quarantine_file}"
        return text

    def problems(self, limit: int = 20) -> Iterator[str]:
        """One line per quarantined row (the first ``limit``): the file, the row and the problem."""
        for reject in self.rejects[:limit]:
            yield f"{self.source} row {reject.row}: {reject.reason} [{reject.rule}]"
        if len(self.rejects) > limit:
            yield f"{self.source}: ... and {len(self.rejects) - limit} more rows in {self.quarantine_file}"


def run_import(
    settings: Settings, path: str, fmt: str | None = None, topic: str = "bids", start: dt.date | None = None
) -> ImportReport:
    """Import one file into the lake's bronze layer; returns the report (raises UserError on a bad file)."""
    fmt = fmt or guess_format(path)
    if fmt == "ebay" and topic != "bids":
        raise UserError("--topic does not apply to --format ebay: it yields users, auctions and bids together")
    if fmt != "ebay" and start is not None:
        raise UserError("--start only applies to --format ebay")
    if topic not in IMPORT_TOPICS:
        raise UserError(f"--topic must be one of {', '.join(IMPORT_TOPICS)}")
    data = read_bytes(path)
    opening = start or DEFAULT_START
    options = f"{fmt}|{topic}|{opening.isoformat() if fmt == 'ebay' else ''}"
    run = "imp" + hashlib.sha256(data + b"\0" + options.encode()).hexdigest()[:16]
    columns, rows = open_rows(path, data, fmt)
    if fmt == "ebay":
        check_columns(path, columns, EBAY_COLUMNS, EBAY_COLUMNS)
    elif set(EBAY_COLUMNS) <= set(columns):
        raise UserError(f"{path} row 1: these are the eBay auction columns; pass --format ebay")
    else:
        check_columns(path, columns, *contract_columns(topic))
    report = ImportReport(source=path, fmt=fmt, run=run)
    counted = _counting(rows, report)
    if fmt == "ebay":
        translation = translate(counted, dt.datetime.combine(opening, dt.time(), dt.UTC))
        events, rejects = translation.events, translation.rejects
    else:
        numbered: list[tuple[int, Event]] = []
        rejects = []
        for item in validate_rows(topic, counted):
            if isinstance(item, Reject):
                rejects.append(item)
            else:
                numbered.append(item)
    if report.rows_read == 0:
        raise UserError(f"{path}: no data rows after the header")
    lake = Lake.from_settings(settings)
    lake.check_writable()
    if fmt != "ebay":
        if topic == "bids":
            numbered, unknown = _known_auctions_only(lake, numbered)
            rejects += unknown
        events = {topic: [event for _, event in numbered]}
    report.rejects = sorted(rejects, key=lambda r: r.row)
    now = dt.datetime.now(dt.UTC)
    for name, topic_events in events.items():
        report.files += _write_bronze(lake, name, run, topic_events, now)
        report.imported[name] = len(topic_events)
    report.quarantine_file = _write_quarantine(lake, report, now)
    return report


def _counting(rows: Iterable[Row | Reject], report: ImportReport) -> Iterator[Row | Reject]:
    for item in rows:
        report.rows_read += 1
        yield item


def _known_auctions_only(lake: Lake, bids: list[tuple[int, Event]]) -> tuple[list[tuple[int, Event]], list[Reject]]:
    """Split numbered bids into those whose auction is in bronze and rejects for the rest."""
    auction_of = {number: bid.auction_id for number, bid in bids if isinstance(bid, Bid)}
    known = _bronze_auction_ids(lake) if auction_of else set()
    kept: list[tuple[int, Event]] = []
    rejects: list[Reject] = []
    for number, bid in bids:
        if auction_of[number] in known:
            kept.append((number, bid))
        else:
            reason = f"auction_id: auction {auction_of[number]!r} is not in the lake (import its auctions first)"
            rejects.append(Reject(number, "unknown_auction", reason, bid.model_dump_json()))
    return kept, rejects


def _bronze_auction_ids(lake: Lake) -> set[str]:
    import pyarrow.dataset as ds

    files = lake.list_files("bronze/auctions")
    if not files:
        return set()
    table = ds.dataset(files, filesystem=lake.fs, format="parquet").to_table(columns=["auction_id"])
    return set(table.column("auction_id").unique().to_pylist())


def _write_bronze(lake: Lake, topic: str, run: str, events: list[Event], now: dt.datetime) -> list[str]:
    """Bronze files of one topic: events in time order, one file per event date, offsets = that order."""
    ordered = sorted(events, key=lambda e: (e.event_time, e.event_id))
    key = TOPIC_KEYS[topic]
    by_day: dict[dt.date, list[dict[str, object]]] = {}
    for offset, event in enumerate(ordered):
        row = row_for_parquet(event)
        row.update(_broker_run=run, _partition=0, _offset=offset, _key=row[key], _ingest_time=now)
        by_day.setdefault(event.event_time.date(), []).append(row)
    written = []
    for day, rows in sorted(by_day.items()):
        name = bronze_file_name(run, 0, int(rows[0]["_offset"]), int(rows[-1]["_offset"]))  # type: ignore[call-overload]
        table = pa.Table.from_pylist(rows, schema=bronze_schema(topic))
        written.append(lake.write_parquet(f"bronze/{topic}/{date_partition(day)}/{name}", table))
    return written


def _write_quarantine(lake: Lake, report: ImportReport, now: dt.datetime) -> str | None:
    """Replace this run's quarantine file (a re-import must not leave a second copy)."""
    name = f"{report.run}.parquet"
    lake.remove([p for p in lake.list_files("quarantine/import") if p.rsplit("/", 1)[-1] == name])
    if not report.rejects:
        return None
    source = os.path.basename(report.source)
    table = pa.Table.from_pylist(
        [
            {
                "import_run": report.run,
                "source": source,
                "format": report.fmt,
                "row": r.row,
                "rule": r.rule,
                "reason": r.reason,
                "raw": r.raw,
                "import_time": now,
            }
            for r in report.rejects
        ],
        schema=QUARANTINE_SCHEMA,
    )
    return lake.write_parquet(f"quarantine/import/{date_partition(now.date())}/{name}", table)
