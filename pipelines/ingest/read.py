"""Read an import file (CSV, Parquet or JSON lines) into numbered rows; the I/O edge of `import`.

A file that cannot be read at all (missing, empty, not the format, wrong columns) raises one
:class:`~pipelines.infra.errors.UserError` naming the file and the problem. A single broken row (a CSV line with
the wrong number of fields, a JSON line that is not an object) becomes a :class:`Reject` and the rest
of the file is still read: nothing is dropped silently.

Row numbers are what a person sees when opening the file: for CSV the line where the record starts
(the header is line 1, so the first data row is row 2, as in a spreadsheet); for JSON lines the line
number; for Parquet the 1-based row index.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipelines.infra.errors import UserError

FORMATS = ("csv", "parquet", "jsonl", "ebay")
#: how files spell "no value": blank, R's ``NA``, spreadsheets' ``N/A``, SQL/JSON ``null``, Python's ``None``
#: and pandas' ``NaN`` (compared case-insensitively, spaces around ignored). ``NaN`` is not missing in a
#: money column: there it means a float conversion went wrong, and the row is a bad number.
MISSING_MARKERS = frozenset({"", "na", "n/a", "null", "none", "nan"})
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Reject:
    """A row that broke a rule: where it is, which rule, why, and the row itself (JSON text)."""

    row: int
    rule: str
    reason: str
    raw: str


Row = tuple[int, dict[str, Any]]


def raw_text(values: Any) -> str:
    """A row as one line of JSON text, for the quarantine (any value, never fails)."""
    return json.dumps(values, default=str, ensure_ascii=False)


def is_missing(value: Any, money: bool = False) -> bool:
    """Whether a cell holds no value: None, a float NaN (not in money) or one of :data:`MISSING_MARKERS`."""
    if type(value) is str and len(value) > 4 and value[0] != " " and value[-1] != " ":
        return False  # longer than any marker, nothing to strip: the common case, decided at once
    if value is None:
        return True
    if isinstance(value, float):
        return value != value and not money
    if not isinstance(value, str):
        return False
    text = value.strip().lower()
    return text in MISSING_MARKERS and not (money and text == "nan")


def guess_format(path: str) -> str:
    """The format implied by a file's suffix (``ebay`` is never guessed: it must be asked for)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise UserError(f"{path}: cannot tell the format from the name; pass --format csv|parquet|jsonl|ebay")
    return SUFFIXES[suffix]


def read_bytes(path: str) -> bytes:
    """The whole file; one line for a missing, unreadable or empty file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise UserError(f"{path}: the file is empty")
    return data


def open_rows(path: str, data: bytes, fmt: str) -> tuple[list[str], Iterator[Row | Reject]]:
    """Column names and an iterator over the file's rows (or rejects) for a format."""
    if fmt in ("csv", "ebay"):
        return _csv_rows(path, data)
    if fmt == "jsonl":
        return _jsonl_rows(path, data)
    if fmt == "parquet":
        return _parquet_rows(path, data)
    raise UserError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def check_columns(
    path: str, columns: list[str], required: list[str], allowed: list[str], ignored: frozenset[str] = frozenset()
) -> None:
    """Raise one line when the file's columns do not match: what is missing, what is unexpected.

    ``ignored`` columns, and those starting with ``_`` (broker metadata), may be present and are skipped.
    """
    missing = [c for c in required if c not in columns]
    unexpected = [c for c in columns if c not in allowed and c not in ignored and not c.startswith("_")]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if not (missing or unexpected or duplicated):
        return
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(unexpected))
    if duplicated:
        problems.append("repeated " + ", ".join(duplicated))
    raise UserError(f"{path} row 1: wrong columns: {'; '.join(problems)} (expected {','.join(allowed)})")


def _text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _csv_rows(path: str, data: bytes) -> tuple[list[str], Iterator[Row | Reject]]:
    reader = csv.reader(io.StringIO(_text(path, data), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise UserError(f"{path} row 1: cannot read the CSV header: {exc or 'no header'}") from None

    def rows() -> Iterator[Row | Reject]:
        line = reader.line_num
        while True:
            start = line + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Reject(start, "bad_row", f"not valid CSV: {exc}", raw_text(None))
                line = reader.line_num
                continue
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                reason = f"{len(fields)} fields where the header has {len(header)}"
                yield Reject(start, "bad_row", reason, raw_text(fields))
                continue
            yield start, dict(zip(header, fields, strict=True))

    return header, rows()


def _jsonl_rows(path: str, data: bytes) -> tuple[list[str], Iterator[Row | Reject]]:
    lines = _text(path, data).splitlines()
    header: list[str] | None = None
    for text in lines:
        try:
            first = json.loads(text)
        except ValueError:
            continue
        if isinstance(first, dict):
            header = list(first)
            break
    if header is None:
        raise UserError(f"{path}: no line is a JSON object; expected one JSON object per line")

    def rows() -> Iterator[Row | Reject]:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError as exc:
                yield Reject(number, "bad_row", f"not JSON: {exc}", raw_text(text))
                continue
            if not isinstance(value, dict):
                yield Reject(number, "bad_row", "not a JSON object", raw_text(text))
                continue
            yield number, value

    return header, rows()


def _parquet_rows(path: str, data: bytes) -> tuple[list[str], Iterator[Row | Reject]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{path}: not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    if table.num_rows == 0:
        raise UserError(f"{path}: the file is empty (no rows)")

    def rows() -> Iterator[Row | Reject]:
        number = 0
        for batch in table.to_batches(max_chunksize=65_536):
            for values in batch.to_pylist():
                number += 1
                yield number, values

    return table.column_names, rows()
