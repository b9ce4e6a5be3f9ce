"""Generator outputs: bronze Parquet in the lake, JSON on the real tansu broker, and the `generate` command."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from app.cli import cli, main
from pipelines.contracts import TOPIC_KEYS, TOPIC_MODELS, bronze_schema
from pipelines.generate import GeneratorConfig, generate, to_broker, to_lake
from pipelines.generate.partitioning import murmur2, partition_of, partitions_for
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake, parse_bronze_file_name
from pipelines.infra.settings import Settings


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.parquet"))
    }


def test_murmur2_matches_kafka() -> None:
    # values from Kafka's UtilsTest (signed Java ints)
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") == -790332482 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == -985981536 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-longer-string") == -1486304829 & 0xFFFFFFFF
    keys = ["", "a", "ab", "abc", "abcd", "abcde", *(f"key-{i}" for i in range(300))]
    assert partitions_for(keys, 7).tolist() == [partition_of(k, 7) for k in keys]


def test_lake_output_is_bronze_readable_and_idempotent(lake_dir: Path) -> None:
    config = GeneratorConfig(seed=5, events=6_000, days=2.5, partitions=3)
    summary = to_lake(config, Lake(str(lake_dir)))
    assert summary.events == 6_000 and summary.files > 0
    first = _digests(lake_dir)
    wire: dict[str, list[dict[str, Any]]] = {t: [] for t in ("users", "auctions", "bids")}
    for batch in generate(config):
        for topic, _, record in batch:
            wire[topic].append(record)
    for topic, records in wire.items():
        files = sorted((lake_dir / "bronze" / topic).rglob("*.parquet"))
        assert files, topic
        rows: list[dict[str, Any]] = []
        offsets: dict[int, list[int]] = {}
        for path in files:
            table = pq.read_table(path)
            assert table.schema.equals(bronze_schema(topic), check_metadata=False)
            run, partition, first_offset, last_offset = parse_bronze_file_name(path.name)
            assert run == config.broker_run()
            assert path.parent.name.startswith("date=")
            assert table["_offset"].to_pylist() == list(range(first_offset, last_offset + 1))
            assert set(table["_partition"].to_pylist()) == {partition}
            for row in table.to_pylist():
                assert row["_key"] == row[TOPIC_KEYS[topic]]
                assert row["_partition"] == partition_of(row["_key"], 3)
                assert row["_ingest_time"] == row["event_time"]
                assert path.parent.name == f"date={row['event_time'].date().isoformat()}"
                offsets.setdefault(partition, []).append(row["_offset"])
            rows.extend(
                table.drop_columns([f.name for f in bronze_schema(topic) if f.name.startswith("_")]).to_pylist()
            )
        for found in offsets.values():
            assert sorted(found) == list(range(len(found))), "offsets are a gapless sequence per partition"
        # the same events as the wire form: same ids and values once both are parsed by the model
        model = TOPIC_MODELS[topic]
        assert sorted(model.model_validate(r).model_dump_json() for r in rows) == sorted(
            model.model_validate(r).model_dump_json() for r in records
        )
    assert len({p for p in first if "date=" in p}) == len(first)
    assert {p.split("/")[2] for p in first} == {"date=2026-11-01", "date=2026-11-02", "date=2026-11-03"}
    to_lake(config, Lake(str(lake_dir)))
    assert _digests(lake_dir) == first, "rerunning the same config rewrites identical files"


def test_lake_output_on_s3(s3_settings: Settings) -> None:
    lake = Lake.from_settings(s3_settings)
    summary = to_lake(GeneratorConfig(seed=6, events=400, partitions=2), lake)
    files = lake.list_files("bronze")
    assert len(files) == summary.files
    rows = 0
    for path in files:
        with lake.fs.open(path, "rb") as handle:
            table = pq.read_table(handle)
        assert table.schema.equals(bronze_schema(path.split("/bronze/")[1].split("/")[0]), check_metadata=False)
        rows += table.num_rows
    assert rows == 400


def test_unwritable_lake_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError, match="not writable"):
        to_lake(GeneratorConfig(events=10), Lake(str(blocker / "lake")))


def test_broker_round_trip_keys_partitions_and_counts(broker_address: str, settings: Settings) -> None:
    from confluent_kafka import Consumer, TopicPartition

    from pipelines.infra.topics import consumer_config

    config = GeneratorConfig(seed=int.from_bytes(os.urandom(4), "big"), events=5_000, partitions=settings.partitions)
    summary = to_broker(config, broker_address, settings=settings)
    assert summary.counts == {"users": 300, "auctions": 800, "bids": 3_900}
    expected = {(t, k, orjson.dumps(r)) for batch in generate(config) for t, k, r in batch}
    consumer = Consumer({**consumer_config(broker_address, f"gen-test-{config.run_id()}"), "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(timeout=10).topics
        partitions = {t: len(metadata[t].partitions) for t in ("users", "auctions", "bids")}
        consumer.assign([TopicPartition(t, p, 0) for t, p in summary.end_offsets])
        remaining = dict(summary.end_offsets)
        seen: set[tuple[str, str, bytes]] = set()
        while remaining:
            msg = consumer.poll(10)
            assert msg is not None, f"timed out with {remaining} left"
            assert msg.error() is None
            topic, partition = msg.topic(), msg.partition()
            if msg.offset() + 1 >= remaining.get((topic, partition), 0):
                remaining.pop((topic, partition), None)
            value = msg.value()
            record = orjson.loads(value)
            if not record["event_id"].startswith(f"e-{config.run_id()}-"):
                continue  # another test's messages on the shared topics
            key = msg.key().decode()
            assert key == record[TOPIC_KEYS[topic]]
            assert partition == partition_of(key, partitions[topic])
            assert TOPIC_MODELS[topic].model_validate_json(value).model_dump_json().encode() == value
            seen.add((topic, key, value))
    finally:
        consumer.close()
    assert seen == expected
    assert summary.events_per_s > 0 and "5000 events" in summary.line()


def test_rate_limits_the_producer(broker_address: str, settings: Settings) -> None:
    summary = to_broker(GeneratorConfig(seed=11, events=400), broker_address, rate=1_000, settings=settings)
    assert summary.seconds >= 0.35, "400 events at 1000/s take at least ~0.4 s"


def test_stop_ends_a_broker_run_early(broker_address: str, settings: Settings) -> None:
    import threading

    class StopAfter(threading.Event):
        """Reads as set from the 6th check on (the producer checks once per chunk of rate/100 events)."""

        checks = 0

        def is_set(self) -> bool:
            self.checks += 1
            return self.checks > 5

    summary = to_broker(GeneratorConfig(seed=12, events=50_000), broker_address, rate=2_000, settings=settings,
                        stop=StopAfter())  # fmt: skip
    assert summary.events == 5 * 20, "five chunks of 2000/100 events, then the stop"
    assert sum(summary.end_offsets.values()) >= 100, "what was produced before the stop is acknowledged"


def test_generate_command_to_lake(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["generate", "--events", "500", "--to", "lake", "--seed", "3", "--days", "0.5"])
    assert result.exit_code == 0, result.output
    assert "generated 500 events" in result.output and "events/s" in result.output
    assert list((tmp_path / "data" / "lake" / "bronze" / "bids").rglob("*.parquet"))


def test_generate_command_to_broker(broker_address: str) -> None:
    env = {"AUCTION_BROKER_ADDRESS": broker_address, "AUCTION_PARTITIONS": "2"}
    result = CliRunner().invoke(cli, ["generate", "--events", "300", "--seed", "4", "--fraud-mix", "bot=1"], env=env)
    assert result.exit_code == 0, result.output
    assert "generated 300 events" in result.output and broker_address in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--events", "0"],
        ["--events", "x"],
        ["--fraud-rate", "0.7"],
        ["--fraud-mix", "phishing=1"],
        ["--fraud-mix", "bot=0"],
        ["--days", "0"],
        ["--start", "2026-13-01"],
        ["--to", "lake", "--rate", "10"],
        ["--partitions", "0"],
        ["--unknown"],
    ],
)
def test_bad_generate_options_are_one_line_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_generate_to_an_unreachable_broker_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.broker import free_port

    monkeypatch.setenv("AUCTION_BROKER_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("AUCTION_BROKER_TIMEOUT_S", "1")
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--events", "10"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: broker at 127.0.0.1:") and err.count("\n") == 1


@pytest.mark.integration
def test_bench_generate_prints_its_figures_as_json() -> None:
    import json

    result = CliRunner().invoke(cli, ["bench", "generate", "--events", "2000", "--broker-events", "1000"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["simulate"]["events"] == report["files"]["events"] == 2_000
    assert report["broker"]["events"] == 1_000
    for stage in ("simulate", "files", "broker"):
        assert report[stage]["events_per_s"] > 0 and report[stage]["peak_rss_mb"] > 0
    assert set(report["met"]) == {"files_events_per_s", "broker_events_per_s"}
