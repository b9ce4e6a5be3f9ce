"""`python -m app import`: historical data into bronze, bad rows into quarantine, counts out.

Formats: the project's own ``csv`` / ``parquet`` / ``jsonl`` files (columns = the contract fields of
``--topic``, default ``bids``; broker metadata columns starting with ``_`` and the views' ``date``
partition column are ignored, so an export of ``bronze.bids`` imports as it is) and ``ebay``, the
public online-auctions CSV (see :mod:`pipelines.ingest.ebay`).

Events land in bronze exactly as if a broker had delivered them::

    bronze/<topic>/date=<event date>/<run>-0-<first>-<last>.parquet

where ``run`` is ``imp`` + a hash of the file's bytes, the format and the options, and the offsets number
the topic's events in time order (within each batch of ``BATCH_ROWS`` rows, which bounds memory for big
files of the project's own format). Importing the same file again rewrites the same files with the same
rows (and drops files of the run it no longer produces): imports are idempotent. A different file (or
``--start``) is a different run.

Rows that break a rule do not vanish: they go to ``quarantine/import/date=<import day>/<run>.parquet``
with the file, the row number, the rule and the reason (a re-import replaces that run's quarantine).
Bids whose auction is neither in this import nor in the lake's bronze auctions are quarantined as
``unknown_auction``: import auctions (``--topic auctions``) and users before their bids. Bidders are
not checked here; silver quarantines bids of unknown users for integrity.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pipelines.contracts import Bid, Event
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings
from pipelines.ingest.contract import IGNORED_COLUMNS, IMPORT_TOPICS, contract_columns, validate_rows
from pipelines.ingest.ebay import EBAY_COLUMNS, translate
from pipelines.ingest.read import Reject, Row, check_columns, guess_format, open_rows, read_bytes
from pipelines.ingest.write import BronzeWriter, write_quarantine

DEFAULT_START = dt.date(2026, 1, 5)
BATCH_ROWS = 50_000


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
    notes: list[tuple[int, str]] = field(default_factory=list)
    """Rows that landed with an optional value that was unreadable (stored as unknown): (row, what)."""

    def summary(self) -> str:
        counts = ", ".join(f"{topic} {n}" for topic, n in self.imported.items()) or "nothing"
        text = f"imported {self.source} ({self.fmt}, run {self.run}): {self.rows_read} rows read; {counts}"
        text += f"; {len(self.rejects)} quarantined"
        if self.rejects:
            rules = Counter(r.rule for r in self.rejects)
            text += " (" + ", ".join(f"{rule} {n}" for rule, n in sorted(rules.items())) + ")"
            text += f" -> {self.quarantine_file}"
        if self.notes:
            text += f"; {len(self.notes)} notes on optional values (rows kept)"
        return text

    def problems(self, limit: int = 20) -> Iterator[str]:
        """One line per quarantined row (the first ``limit``): the file, the row and the problem."""
        for reject in self.rejects[:limit]:
            yield f"{self.source} row {reject.row}: {reject.reason} [{reject.rule}]"
        if len(self.rejects) > limit:
            yield f"{self.source}: ... and {len(self.rejects) - limit} more rows in {self.quarantine_file}"
        for row, note in self.notes[:limit]:
            yield f"{self.source} row {row}: {note} [kept]"
        if len(self.notes) > limit:
            yield f"{self.source}: ... and {len(self.notes) - limit} more unreadable optional values"


@dataclass
class OpenedImport:
    """A file checked and opened for import: its lake, its (empty) report, its rows and the eBay opening time."""

    lake: Lake
    report: ImportReport
    rows: Iterator[Row | Reject]
    topic: str
    opening: dt.datetime


def open_import(
    settings: Settings, path: str, fmt: str | None = None, topic: str = "bids", start: dt.date | None = None
) -> OpenedImport:
    """Check the options and the file's columns, name the run; one UserError line on a bad file or option."""
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
        check_columns(path, columns, *contract_columns(topic), IGNORED_COLUMNS)
    lake = Lake.from_settings(settings)
    lake.check_writable()
    report = ImportReport(source=path, fmt=fmt, run=run)
    return OpenedImport(lake, report, _counting(rows, report), topic, dt.datetime.combine(opening, dt.time(), dt.UTC))


def run_import(
    settings: Settings, path: str, fmt: str | None = None, topic: str = "bids", start: dt.date | None = None
) -> ImportReport:
    """Import one file into the lake's bronze layer; returns the report (raises UserError on a bad file)."""
    opened = open_import(settings, path, fmt, topic, start)
    try:
        return _land(opened)
    except lake_errors() as exc:
        raise lake_failure(opened, exc) from None


def lake_failure(opened: OpenedImport, exc: Exception) -> UserError:
    """The one line for a lake that failed mid-way (S3 down, credentials revoked): files are whole or absent."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UserError(f"{opened.report.source}: writing to the lake {opened.lake.url} failed: {reason}; re-run "
                     "the same import to finish (it rewrites the same files)")  # fmt: skip


def finish_report(opened: OpenedImport, rejects: list[Reject], now: dt.datetime) -> None:
    """The report's rejects (by row) and their quarantine file; a file without data rows is one line."""
    report = opened.report
    if report.rows_read == 0:
        raise UserError(f"{report.source}: no data rows after the header")
    report.rejects = sorted(rejects, key=lambda r: r.row)
    report.quarantine_file = write_quarantine(opened.lake, report.run, report.source, report.fmt, report.rejects, now)


def _land(opened: OpenedImport) -> ImportReport:
    """Translate/validate the rows and write bronze and the quarantine; fills in and returns the report."""
    lake, report = opened.lake, opened.report
    now = dt.datetime.now(dt.UTC)
    writer = BronzeWriter(lake, report.run, now)
    if report.fmt == "ebay":
        # all rows of an auction are needed to name its winner; the public files are small (~11k rows)
        translation = translate(opened.rows, opened.opening)
        for name, events in translation.events.items():
            writer.write(name, events)
        rejects, report.notes = translation.rejects, translation.notes
    else:
        rejects = _import_own(lake, opened.topic, validate_rows(opened.topic, opened.rows), writer)
    if report.rows_read == 0:
        raise UserError(f"{report.source}: no data rows after the header")
    writer.finish()
    report.imported, report.files = writer.counts, writer.files
    finish_report(opened, rejects, now)
    return report


def _import_own(
    lake: Lake, topic: str, items: Iterable[tuple[int, Event] | Reject], writer: BronzeWriter
) -> list[Reject]:
    """Write validated events in batches of ``BATCH_ROWS`` (memory stays bounded); returns the rejects."""
    rejects: list[Reject] = []
    known: set[str] | None = None
    batch: list[Event] = []
    writer.write(topic, [])
    for item in items:
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        number, event = item
        if isinstance(event, Bid):
            known = _bronze_auction_ids(lake) if known is None else known
            if event.auction_id not in known:
                reason = f"auction_id: auction {event.auction_id!r} is not in the lake (import its auctions first)"
                rejects.append(Reject(number, "unknown_auction", reason, event.model_dump_json()))
                continue
        batch.append(event)
        if len(batch) >= BATCH_ROWS:
            writer.write(topic, batch)
            batch = []
    writer.write(topic, batch)
    return rejects


def lake_errors() -> tuple[type[Exception], ...]:
    """What a failing lake raises: OSError (local, s3fs) and botocore's own errors (not OSErrors)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (OSError, BotoCoreError, ClientError)


def _counting(rows: Iterable[Row | Reject], report: ImportReport) -> Iterator[Row | Reject]:
    for item in rows:
        report.rows_read += 1
        yield item


def _bronze_auction_ids(lake: Lake) -> set[str]:
    import pyarrow.dataset as ds

    files = lake.list_files("bronze/auctions")
    if not files:
        return set()
    table = ds.dataset(files, filesystem=lake.fs, format="parquet").to_table(columns=["auction_id"])
    return set(table.column("auction_id").unique().to_pylist())
