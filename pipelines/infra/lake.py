"""The lake: a local directory or an S3 prefix through fsspec, with atomic Parquet writes.

Layout (DESIGN.md)::

    bronze/<topic>/date=YYYY-MM-DD/<broker run>-<partition>-<first offset>-<last offset>.parquet
    silver/<table>/date=YYYY-MM-DD/*.parquet
    quarantine/<table>/date=YYYY-MM-DD/*.parquet
    gold/<table>/...

Bronze readers read :func:`live_files` of a listing: a file superseded by a compacted one is skipped.

A local write goes to a hidden temporary file in the target directory and is renamed into place; an S3
PUT is atomic by itself (the object appears whole or not at all). Readers skip names starting with ``.``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings


class LakeUnavailable(OSError):
    """An S3 lake did not answer or refused (botocore's EndpointConnectionError and friends are no OSErrors):
    one line naming what was being done, the endpoint and the reason."""


def bronze_file_name(broker_run: str, partition: int, first_offset: int, last_offset: int) -> str:
    """Name of a bronze file: the same input range always gets the same name (replays rewrite)."""
    return f"{broker_run}-{partition}-{first_offset:012d}-{last_offset:012d}.parquet"


def parse_bronze_file_name(name: str) -> tuple[str, int, int, int]:
    """Inverse of :func:`bronze_file_name`: ``(broker_run, partition, first, last)``; ValueError if not one."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".parquet")
    run, partition, first, last = stem.rsplit("-", 3)
    return run, int(partition), int(first), int(last)


def live_files(paths: list[str]) -> list[str]:
    """The bronze files a reader must read: each one whose offset range is contained in another file's of the
    same directory, run and partition is left out (sorted order kept; names that do not parse are kept).

    Compaction writes a merged file before it removes the parts it merges, so a crash (or a reader)
    between the two steps finds both: the parts are then superseded, never read twice.
    """
    groups: dict[tuple[str, str, int], list[tuple[int, int, str]]] = {}
    for path in paths:
        try:
            run, partition, first, last = parse_bronze_file_name(path)
        except ValueError:
            continue
        groups.setdefault((path.rsplit("/", 1)[0], run, partition), []).append((first, -last, path))
    superseded = set()
    for files in groups.values():
        reach = -1
        for _first, minus_last, path in sorted(files):
            if -minus_last <= reach:
                superseded.add(path)
            else:
                reach = -minus_last
    return [path for path in paths if path not in superseded]


def date_partition(day: dt.date) -> str:
    return f"date={day.isoformat()}"


@dataclass
class Lake:
    """Root of the lake plus the filesystem that reaches it."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import fsspec

        if self.url.startswith("s3://"):
            self.fs = fsspec.filesystem("s3", **self.storage_options)
            self.root = self.url.removeprefix("s3://").rstrip("/")
            self.is_local = False
        else:
            self.fs = fsspec.filesystem("file")
            self.root = os.path.abspath(self.url.removeprefix("file://"))
            self.is_local = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        return cls(settings.lake_url, settings.storage_options())

    def path(self, *parts: str) -> str:
        """Filesystem path (no scheme) of a lake-relative location."""
        return "/".join([self.root, *[p.strip("/") for p in parts if p]])

    def uri(self, *parts: str) -> str:
        """Full URL (``s3://…`` or an absolute local path) for engines such as DuckDB or Polars."""
        path = self.path(*parts)
        return path if self.is_local else f"s3://{path}"

    def check_writable(self) -> None:
        """Fail early, in one line, when the lake cannot be written."""
        probe = self.path(f".write-probe-{uuid.uuid4().hex}")
        try:
            if self.is_local:
                os.makedirs(self.root, exist_ok=True)
            self.fs.pipe_file(probe, b"ok")
            self.fs.rm_file(probe)
        except Exception as exc:
            raise UserError(f"lake {self.url} is not writable: {_reason(exc)}") from None

    def write_bytes(self, relpath: str, data: bytes) -> str:
        """Write a whole file atomically; returns its path."""
        target = self.path(relpath)
        if self.is_local:
            directory = os.path.dirname(target)
            os.makedirs(directory, exist_ok=True)
            tmp = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        else:
            with self._reaching(f"cannot write {relpath}"):
                self.fs.pipe_file(target, data)
        return target

    def where(self) -> str:
        """The lake for a message: its URL, and for S3 the endpoint it goes to."""
        if self.is_local:
            return self.url
        return f"{self.url} at {self.storage_options.get('endpoint_url') or 'AWS S3'}"

    @contextlib.contextmanager
    def _reaching(self, what: str) -> Iterator[None]:
        """Turn an S3 client failure into a one-line :class:`LakeUnavailable` (a missing file stays one)."""
        try:
            yield
        except (FileNotFoundError, LakeUnavailable):
            raise
        except Exception as exc:
            raise LakeUnavailable(f"{what} on lake {self.where()}: {_reason(exc)}") from None

    def write_parquet(
        self, relpath: str, table: pa.Table, compression: str = "zstd", use_dictionary: bool = True
    ) -> str:
        """Write a table as one Parquet file atomically."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression=compression, use_dictionary=use_dictionary)
        return self.write_bytes(relpath, buffer.getvalue())

    def list_files(self, relpath: str, suffix: str = ".parquet") -> list[str]:
        """Paths of the visible files under a lake-relative directory, sorted (hidden temp files skipped)."""
        base = self.path(relpath)
        try:
            with self._reaching(f"cannot list {relpath}"):
                found = self.fs.find(base)
        except FileNotFoundError:
            return []
        return sorted(p for p in found if p.endswith(suffix) and not os.path.basename(p).startswith("."))

    def remove(self, paths: list[str]) -> None:
        if paths:
            with self._reaching(f"cannot remove {len(paths)} file(s) such as {paths[0].removeprefix(self.root + '/')}"):
                self.fs.rm(paths)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
