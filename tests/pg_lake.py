"""Helpers for the PostgreSQL tests: a small generated lake with gold, and gold read back from either side."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.batch.gold import PUBLISHED_TABLES
from pipelines.generate import GeneratorConfig
from pipelines.infra.settings import Settings

CONFIG = GeneratorConfig(seed=5, events=6_000, partitions=2)


def pg_settings(tmp_path: Path, lake: Path, url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {"database_timeout_s": 5, "extract_lag_s": 0, "partitions": 2, **extra}
    return Settings(lake_url=str(lake), database_url=url, state_dir=tmp_path / "state", runtime_dir=tmp_path / "run",
                    **values)  # fmt: skip


def make_lake(path: Path, config: GeneratorConfig = CONFIG) -> Path:
    """Bronze from the generator, then silver and gold (a few seconds)."""
    from app.batch import run_batch
    from pipelines.generate import to_lake
    from pipelines.infra.lake import Lake

    to_lake(config, Lake(str(path)))
    run_batch(Settings(lake_url=str(path), partitions=config.partitions))
    return path


def copy_lake(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def primary_key(conn: Any, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary",
        [f"gold.{table}"],
    ).fetchall()
    return [r[0] for r in rows]


def lake_gold(lake: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every gold table of the lake as sorted rows."""
    out = {}
    for name in PUBLISHED_TABLES:
        rows = pq.read_table(lake / "gold" / name / f"{name}.parquet").to_pylist()
        out[name] = sorted(tuple(r.values()) for r in rows)
    return out


def pg_gold(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of schema gold as sorted rows, times in UTC (Python never finds a time in a repeated
    DST hour equal to one in another zone, so they are compared in the lake's zone)."""

    def utc(value: Any) -> Any:
        return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else value

    return {
        name: sorted(tuple(utc(v) for v in row) for row in conn.execute(f"SELECT * FROM gold.{name}"))
        for name in PUBLISHED_TABLES
    }


def summary(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, tuple[int, tuple[Any, ...]]]:
    """Per table: the row count and the sum of every numeric column (exact for money and counts)."""
    out = {}
    for name, table in rows.items():
        sums = []
        for column in zip(*table, strict=True) if table else []:
            values = [v for v in column if isinstance(v, int | float) or type(v).__name__ == "Decimal"]
            if values and len(values) == len([v for v in column if v is not None]):
                sums.append(sum(values))
        out[name] = (len(table), tuple(sums))
    return out
