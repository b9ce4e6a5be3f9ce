"""The batch job against S3 (moto's ThreadedMotoServer, a real S3 HTTP API): the same bronze gives the
same silver and gold as on a local directory; an unreachable S3 is one clear error with nothing written.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from bronze_rows import DAY, marketplace, scored, write_bronze

from app.batch import run_batch
from app.broker import free_port
from pipelines.batch.gold import GOLD_TABLES
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings


def _seed(*lakes: Lake) -> None:
    world = marketplace()
    world["bids-scored"] = [scored(r, 0.6) for r in world["bids"]]
    for lake in lakes:
        for topic, rows in world.items():
            write_bronze(lake, topic, DAY, rows)


def _read(lake: Lake, relpath: str) -> pl.DataFrame:
    [path] = lake.list_files(relpath)
    return pl.read_parquet(io.BytesIO(lake.fs.cat_file(path)))


def test_s3_batch_equals_the_local_run(s3_settings: Settings, settings: Settings) -> None:
    s3, local = Lake.from_settings(s3_settings), Lake.from_settings(settings)
    _seed(s3, local)
    on_s3, on_disk = run_batch(s3_settings), run_batch(settings)
    assert [t.line() for t in on_s3.tables] == [t.line() for t in on_disk.tables]
    assert on_s3.gold == on_disk.gold
    for name in GOLD_TABLES:
        assert _read(s3, f"gold/{name}").equals(_read(local, f"gold/{name}")), name
    for table in ("users", "auctions", "bids", "fraud_alerts"):
        assert _read(s3, f"silver/{table}").equals(_read(local, f"silver/{table}")), table
    # idempotent on S3 too: the same objects, the same bytes
    before = {p: s3.fs.cat_file(p) for p in s3.list_files("silver") + s3.list_files("gold")}
    run_batch(s3_settings, [DAY])
    assert {p: s3.fs.cat_file(p) for p in s3.list_files("silver") + s3.list_files("gold")} == before


def test_generated_bronze_on_s3_gives_the_same_gold_as_on_disk(s3_settings: Settings, settings: Settings) -> None:
    from pipelines.generate import GeneratorConfig, to_lake

    config = GeneratorConfig(seed=3, events=3_000, days=2)
    s3, local = Lake.from_settings(s3_settings), Lake.from_settings(settings)
    to_lake(config, s3)
    to_lake(config, local)
    on_s3, on_disk = run_batch(s3_settings), run_batch(settings)
    assert [t.line() for t in on_s3.tables] == [t.line() for t in on_disk.tables]
    assert sum(t.silver for t in on_s3.tables if t.table == "bids") > 1_000
    assert on_s3.checks == on_disk.checks and not any(on_s3.checks.values())
    for name in GOLD_TABLES:
        assert _read(s3, f"gold/{name}").equals(_read(local, f"gold/{name}")), name


def test_unreachable_s3_is_one_clear_error(tmp_path: Path) -> None:
    dead = Settings(
        lake_url="s3://lake/prefix",
        aws_endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    with pytest.raises(UserError) as info:
        run_batch(dead)
    message = str(info.value)
    assert message.startswith("lake s3://lake/prefix is not writable")
    assert "\n" not in message


def test_missing_bucket_is_one_clear_error(s3_settings: Settings) -> None:
    missing = s3_settings.model_copy(update={"lake_url": "s3://no-such-bucket/lake"})
    with pytest.raises(UserError, match="no-such-bucket"):
        run_batch(missing)
