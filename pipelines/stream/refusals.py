"""Outputs the broker refuses for what they are become dead letters in the lake; the worker goes on.

Two moments, two records:

* Before producing (:class:`Overflow`): an output larger than its topic's budget (say, because the input's
  headers, copied to it, are large) is produced without the headers if that fits; otherwise it -- or a
  record ``produce()`` refuses at once -- becomes a dead letter of its *input*, in that input range's
  bronze buffer (so it lands with the range, exactly once) and on ``dead-letters``.
* At delivery (after the range's bronze files were written) or for a changelog record:
  :func:`write_refused` writes the refused records as dead letters to one bronze file named by a hash of
  its content, ``bronze/dead-letters/date=D/refused-<hash>.parquet``. A replay that is refused the same way
  rewrites the same file (never a copy); the restart cleanup of uncommitted ranges, which matches
  ``<run>-<partition>-*``, leaves it alone. Such a letter's ``source_*`` is the refused record itself
  (``source_offset`` -1): its value names the input (a bid id, an alert id, a letter's source).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from pipelines.contracts import EPOCH, SCHEMA_VERSION, bronze_schema
from pipelines.infra.lake import Lake, date_partition
from pipelines.stream.letters import raw_facts, raw_text
from pipelines.stream.outputs import Refused

log = logging.getLogger(__name__)


def header_bytes(headers: Any) -> int:
    """Bytes the headers add to a record (names and values; None or empty: 0)."""
    if not headers:
        return 0
    items = headers.items() if isinstance(headers, dict) else headers
    return sum(len(name) + len(value or b"") + 8 for name, value in items)


def refused_rows(refused: list[Refused], run: str) -> list[dict[str, Any]]:
    """The bronze dead-letters rows of refused records (whole values; ``run``: the bronze run they join)."""
    rows = []
    for record in refused:
        text, encoding = raw_text(record.value)
        size, sha256 = raw_facts(record.value)
        ident = hashlib.sha256(repr((record.topic, record.partition, record.key, record.value)).encode()).hexdigest()
        moment = EPOCH + dt.timedelta(milliseconds=record.timestamp)
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        rows.append({
            "event_id": f"dl-refused-{ident[:24]}", "event_time": moment, "schema_version": SCHEMA_VERSION,
            "key": key, "raw_value": text, "encoding": encoding, "source_topic": record.topic,
            "source_partition": record.partition, "source_offset": -1,
            "error": f"the broker refused this {record.topic} record: {record.reason}",
            "raw_size": size, "raw_sha256": sha256, "truncated": False,
            "_broker_run": run, "_partition": record.partition, "_offset": -1, "_key": key, "_ingest_time": moment,
        })  # fmt: skip
    return rows


def write_refused(lake: Lake, refused: list[Refused], run: str) -> list[str]:
    """Write refused records as dead letters, one file per day named by its content; returns the paths."""
    rows = refused_rows(refused, run)
    by_day: dict[dt.date, list[dict[str, Any]]] = {}
    for row in rows:
        by_day.setdefault(row["event_time"].date(), []).append(row)
    paths = []
    schema = bronze_schema("dead-letters")
    for day, day_rows in sorted(by_day.items()):
        day_rows.sort(key=lambda row: row["event_id"])  # the same records in any order: the same file
        digest = hashlib.sha256("\n".join(sorted(row["event_id"] for row in day_rows)).encode()).hexdigest()[:16]
        path = f"bronze/dead-letters/{date_partition(day)}/refused-{digest}.parquet"
        lake.write_parquet(path, pa.Table.from_pylist(day_rows, schema=schema))
        paths.append(path)
    for record in refused:
        log.warning("the broker refused a %s record (%s): kept in bronze dead-letters", record.topic, record.reason)
    return paths


class Overflow:
    """What the pipeline does with an output that is over its topic's budget or that ``produce()`` refused.

    ``produce(topic name, key, value, timestamp, headers)`` returns None or the reason it refused the record.
    """

    def __init__(
        self,
        produce: Callable[[str, bytes | None, bytes, int, Any], str | None],
        names: dict[str, str],
        limits: dict[str, int],
        refused: Callable[..., tuple[str, bytes | None, bytes]],
    ) -> None:
        self.produce, self.names, self.limits, self.refused = produce, names, limits, refused
        self.letters = 0
        """Dead letters made for refused outputs."""

    def __call__(
        self,
        name: str,
        out_key: bytes | None,
        payload: bytes,
        source: tuple[str, int, int, bytes | None, bytes | None, int],
        headers: Any,
        error: str | None,
    ) -> None:
        """Handle one output of the input ``source`` = (topic, partition, offset, key, value, timestamp)."""
        timestamp = source[5]
        size = len(payload) + len(out_key or b"")
        if error is None and size <= self.limits[name]:  # only the headers are too many: drop them
            error = self.produce(self.names[name], out_key, payload, timestamp, None)
            if error is None:
                return
        if error is None:
            error = f"{size} bytes, more than the {self.limits[name]} bytes the {name} topic takes"
        if name == "dead-letters":  # already in the range's bronze rows; the topic cannot take it
            log.warning("a dead letter of %s was refused (%s): it is in bronze dead-letters only", source[0], error)
            return
        self.letters += 1
        _, letter_key, letter = self.refused(*source, name, error)
        error = self.produce(self.names["dead-letters"], letter_key, letter, timestamp, None)
        if error is not None:
            log.warning("a dead letter of %s was refused (%s): it is in bronze dead-letters only", source[0], error)
