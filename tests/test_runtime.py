"""The composition root: `demo` end to end, and `run` stopping cleanly with nothing lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from app.runtime import demo, wait_drained
from pipelines.infra.settings import Settings
from pipelines.infra.topics import consumer_config, ensure_topics, producer_config

ROOT = Path(__file__).resolve().parent.parent


def _bronze(lake: Path, topic: str) -> pl.DataFrame:
    files = sorted((lake / "bronze" / topic).rglob("*.parquet"))
    assert files, f"no bronze files for {topic}"
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")


@pytest.mark.integration
def test_demo_runs_the_whole_pipeline(settings: Settings, lake_dir: Path) -> None:
    lines: list[str] = []
    result = demo(settings, events=6_000, seed=7, echo=lines.append)
    assert sum(result.generated.values()) == 6_000
    assert result.processed == result.generated
    bids = _bronze(lake_dir, "bids")
    assert bids.height == result.generated["bids"] and bids["bid_id"].n_unique() == bids.height
    scored = _bronze(lake_dir, "bids-scored")
    assert set(scored["bid_id"]) == set(bids["bid_id"])
    assert result.gold["daily_revenue"] >= 1 and result.gold["hourly_activity"] >= 1
    assert any(line.startswith("generated 6000 events") for line in lines)


@pytest.mark.integration
def test_run_drains_on_sigint_and_loses_nothing(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    env = {
        **os.environ,
        "AUCTION_LAKE_URL": str(lake),
        "AUCTION_STATE_DIR": str(tmp_path / "state"),
        "AUCTION_RUNTIME_DIR": str(tmp_path / "run"),
        "AUCTION_PARTITIONS": "2",
    }
    env.pop("AUCTION_BROKER_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--rate", "1500", "--batch-every", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        output.append(line)
        if line.startswith("running:"):
            break
        assert time.monotonic() < deadline, "".join(output)
    time.sleep(12)  # let generator and worker exchange some traffic
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=180)
    text = "".join(output) + rest
    assert proc.returncode == 0, text
    assert "warning: not drained" not in text
    produced = dict(re.findall(r"(\w+)=(\d+)", text.split("generator produced", 1)[1].splitlines()[0]))
    assert int(produced["bids"]) > 0
    bids = _bronze(lake, "bids")
    # every bid produced is in bronze, exactly once
    assert bids["bid_id"].n_unique() == bids.height == int(produced["bids"])
    assert (lake / "gold" / "daily_revenue").exists()
    assert "final batch:" in text and text.rstrip().endswith("stopped")
    # the embedded broker is gone and its address record removed
    assert not (tmp_path / "run" / "embedded-broker.json").exists()


def test_draining_waits_until_the_group_committed_every_end_offset(broker_address: str, unique_name: str) -> None:
    topic, settings = f"drain-{unique_name}", Settings(partitions=1, consumer_group=f"group-{unique_name}")
    ensure_topics(broker_address, settings, (topic,))
    producer = Producer(producer_config(broker_address))
    for n in range(5):
        producer.produce(topic, f"m{n}".encode())
    assert producer.flush(10) == 0
    assert not wait_drained(broker_address, settings, {(topic, 0): 5}, timeout_s=1)  # nothing committed yet
    committer = Consumer({**consumer_config(broker_address, settings.consumer_group), "enable.auto.commit": False})
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
        assert not wait_drained(broker_address, settings, {(topic, 0): 5}, timeout_s=1)  # one message short
        committer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    finally:
        committer.close()
    assert wait_drained(broker_address, settings, {(topic, 0): 5}, timeout_s=30)


@pytest.mark.integration
def test_demo_prints_nothing_from_librdkafka_after_the_broker_stops(tmp_path: Path) -> None:
    """A user sees the demo's summary and nothing else: no producer left retrying the stopped broker."""
    env = {**os.environ, "AUCTION_LAKE_URL": str(tmp_path / "lake"), "AUCTION_STATE_DIR": str(tmp_path / "state"),
           "AUCTION_RUNTIME_DIR": str(tmp_path / "run")}  # fmt: skip
    env.pop("AUCTION_BROKER_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "app", "demo", "--events", "3000"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "demo done" in done.stdout
    assert [line for line in done.stderr.splitlines() if line.startswith("%")] == []
