"""The lake: atomic writes, bronze names, local and S3 (moto server), clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake, bronze_file_name, parse_bronze_file_name
from pipelines.infra.settings import Settings


def test_bronze_file_names_round_trip_and_sort_by_offset() -> None:
    name = bronze_file_name("gen-1a2b", 3, 100, 2_000)
    assert parse_bronze_file_name(f"bronze/bids/date=2026-11-01/{name}") == ("gen-1a2b", 3, 100, 2_000)
    names = [bronze_file_name("r", 0, first, first + 9) for first in (1_000, 20, 300)]
    assert sorted(names) == [bronze_file_name("r", 0, f, f + 9) for f in (20, 300, 1_000)]


def test_local_write_is_atomic_and_listed(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    table = pa.table({"x": [1, 2, 3]})
    path = lake.write_parquet("bronze/t/date=2026-11-01/a.parquet", table)
    assert pq.read_table(path).equals(table)
    # a leftover temp file from a crashed writer is never listed
    (Path(path).parent / ".b.parquet.123.tmp").write_bytes(b"half")
    assert lake.list_files("bronze/t") == [path]
    assert not [p for p in os.listdir(Path(path).parent) if p.endswith(".tmp") and p != ".b.parquet.123.tmp"]
    assert lake.list_files("bronze/missing") == []


def test_lake_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError) as info:
        Lake(str(blocker / "lake")).check_writable()
    assert "is not writable" in str(info.value) and "\n" not in str(info.value)


def test_s3_lake_round_trip(s3_settings: Settings) -> None:
    lake = Lake.from_settings(s3_settings)
    lake.check_writable()
    table = pa.table({"x": [1, 2]})
    path = lake.write_parquet("bronze/t/date=2026-11-01/a.parquet", table)
    assert lake.uri("bronze").startswith("s3://")
    assert lake.list_files("bronze/t") == [path]
    with lake.fs.open(path, "rb") as handle:
        assert pq.read_table(handle).equals(table)
    lake.remove([path])
    assert lake.list_files("bronze/t") == []


def test_s3_missing_bucket_is_a_clear_error(s3_settings: Settings) -> None:
    missing = s3_settings.model_copy(update={"lake_url": "s3://no-such-bucket-here/lake"})
    with pytest.raises(UserError) as info:
        Lake.from_settings(missing).check_writable()
    assert "s3://no-such-bucket-here/lake is not writable" in str(info.value)
