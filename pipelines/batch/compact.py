"""Compaction: many small bronze files of one day, run and partition become a few of ``compaction_target_mb``.

Bronze files are named by *input* offset range (``<run>-<partition>-<first>-<last>.parquet``, see
pipelines/bronze.py). Compaction keeps every promise of that scheme:

* Only **final** files are merged: those whose range ends below the consumer group's committed offset of
  their input partition (the stream never rewrites them), and every file of a run that is not one of the
  broker's current topic runs (an earlier broker lifetime, the generator's or an import's files: nothing
  replays them).
* Consecutive final files of one ``(topic, date, run, partition)`` are merged, in offset order, into one file
  named by the union range, ``<run>-<partition>-<first of first>-<last of last>.parquet``, written atomically;
  only then are the parts removed. Between the two steps (or after a crash there) both exist, and every
  reader skips a file whose range another file's contains (:func:`pipelines.infra.lake.live_files`), so nothing is read
  twice or missed; the next compaction removes such leftovers.
* A stream worker replaying after a crash deletes its partition's files with ``first >=`` the committed
  offset and rewrites them; a merged file lies wholly below that offset, so it is never touched and never
  duplicated.
* A file that cannot be read is moved to ``quarantine/corrupt/bronze/<topic>/date=D/<name>.corrupt`` next
  to ``<name>.reason`` (never deleted); the rest is compacted.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.infra.lake import Lake, bronze_file_name, live_files, parse_bronze_file_name
from pipelines.infra.settings import Settings


@dataclass(frozen=True)
class BronzeFile:
    path: str
    run: str
    partition: int
    first: int
    last: int
    size: int


@dataclass
class CompactionResult:
    """What one compaction did."""

    files_in: int = 0
    files_out: int = 0
    rows: int = 0
    leftovers_removed: int = 0
    quarantined: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"compaction: {self.files_in} files -> {self.files_out} ({self.rows} rows)"
        if self.leftovers_removed:
            text += f"; {self.leftovers_removed} superseded leftovers removed"
        return text + (f"; {len(self.quarantined)} corrupt file(s) quarantined" if self.quarantined else "")


def final_before(runs: dict[str, str], committed: dict[tuple[str, int], int]) -> Callable[[str, int], int | None]:
    """``(run, partition) -> offset`` below which a file's range is final; None: the whole run is final.

    ``runs`` maps each input topic to the broker's current run id (run ids differ per topic, so the run in
    a name also tells which input a dead letter or a scored bid came from); a partition of a current run
    with no committed offset has nothing final yet (0).
    """
    current = {run: topic for topic, run in runs.items()}

    def limit(run: str, partition: int) -> int | None:
        topic = current.get(run)
        if topic is None:
            return None
        return committed.get((topic, partition), 0)

    return limit


def plan(files: list[BronzeFile], limit: int | None, target_bytes: int) -> list[list[BronzeFile]]:
    """Groups of two or more consecutive final files (offset order) of about ``target_bytes`` each.

    ``files`` are one directory's live files of one run and partition. A file of ``target_bytes`` or more
    is left alone (it ends a group), so compacted data is not rewritten again and again.
    """
    groups: list[list[BronzeFile]] = []
    current: list[BronzeFile] = []
    size = 0
    for f in sorted(files, key=lambda f: f.first):
        final = limit is None or f.last < limit
        if not final or f.size >= target_bytes:
            groups.append(current)
            current, size = [], 0
            if not final:
                break
            continue
        current.append(f)
        size += f.size
        if size >= target_bytes:
            groups.append(current)
            current, size = [], 0
    groups.append(current)
    return [g for g in groups if len(g) >= 2]


def compact(
    settings: Settings,
    runs: dict[str, str] | None,
    committed: dict[tuple[str, int], int],
    after_write: Callable[[str, list[str]], None] = lambda merged, parts: None,
) -> CompactionResult:
    """Compact every bronze table. ``runs`` (input topic -> current run id; None: no broker, all final) and
    ``committed`` come from the broker; ``after_write`` is called between writing a merged file and removing
    its parts (tests stop there)."""
    lake = Lake.from_settings(settings)
    lake.fs.invalidate_cache()
    limit_of = final_before(runs or {}, committed)
    target = int(settings.compaction_target_mb * 1024 * 1024)
    result = CompactionResult()
    for table in sorted(_tables(lake)):
        for directory, groups in _directories(lake, table, result).items():
            for (run, partition), files in groups.items():
                limit = limit_of(run, partition)
                for chunk in plan(files, limit, target):
                    _merge(lake, table, directory, chunk, result, after_write)
    return result


def _tables(lake: Lake) -> list[str]:
    try:
        return [p.rstrip("/").rsplit("/", 1)[-1] for p in lake.fs.ls(lake.path("bronze"), detail=False)]
    except FileNotFoundError:
        return []


def _directories(
    lake: Lake, table: str, result: CompactionResult
) -> dict[str, dict[tuple[str, int], list[BronzeFile]]]:
    """Per date directory, per (run, partition): the live files; superseded leftovers are removed here."""
    found = lake.fs.find(lake.path("bronze", table), detail=True)
    paths = sorted(p for p in found if p.endswith(".parquet") and not os.path.basename(p).startswith("."))
    live = set(live_files(paths))
    leftovers = [p for p in paths if p not in live]
    lake.remove(leftovers)
    result.leftovers_removed += len(leftovers)
    out: dict[str, dict[tuple[str, int], list[BronzeFile]]] = {}
    for path in paths:
        if path not in live:
            continue
        try:
            run, partition, first, last = parse_bronze_file_name(path)
        except ValueError:
            continue
        bronze = BronzeFile(path, run, partition, first, last, int(found[path].get("size") or 0))
        out.setdefault(path.rsplit("/", 1)[0], {}).setdefault((run, partition), []).append(bronze)
    return out


def _merge(
    lake: Lake,
    table: str,
    directory: str,
    chunk: list[BronzeFile],
    result: CompactionResult,
    after_write: Callable[[str, list[str]], None],
) -> None:
    tables, parts = [], []
    for f in chunk:
        try:
            with lake.fs.open(f.path, "rb") as handle:
                tables.append(pq.read_table(handle))
            parts.append(f)
        except (OSError, pa.ArrowException) as exc:
            _quarantine(lake, table, f, exc)
            result.quarantined.append(f.path)
    if len(parts) < 2:
        return
    schema = tables[0].schema
    merged = pa.concat_tables([t.cast(schema) if t.schema != schema else t for t in tables])
    name = bronze_file_name(parts[0].run, parts[0].partition, parts[0].first, parts[-1].last)
    day = directory.rsplit("/", 1)[-1]
    target = lake.write_parquet(f"bronze/{table}/{day}/{name}", merged, use_dictionary=False)
    after_write(target, [f.path for f in parts])
    lake.remove([f.path for f in parts])
    result.files_in += len(parts)
    result.files_out += 1
    result.rows += merged.num_rows


def _quarantine(lake: Lake, table: str, bad: BronzeFile, exc: BaseException) -> None:
    """Move an unreadable bronze file to the quarantine with the reason (copy, then remove the original)."""
    day = bad.path.rsplit("/", 2)[-2]
    name = bad.path.rsplit("/", 1)[-1]
    base = f"quarantine/corrupt/bronze/{table}/{day}/{name}"
    with lake.fs.open(bad.path, "rb") as handle:
        lake.write_bytes(f"{base}.corrupt", handle.read())
    reason = f"{dt.datetime.now(dt.UTC).isoformat()} compaction could not read it: {type(exc).__name__}: {exc}\n"
    lake.write_bytes(f"{base}.reason", reason.encode())
    lake.remove([bad.path])
