"""Live traffic: the generator produces at a steady rate while `python -m app stream` processes it.

While a worker keeps up with its producers it writes bronze ranges and idle state before the checkpoint
(a shorter pause, see `BronzeSink.tick` and `StateCache.tick`); these tests make sure that path runs and
that a worker killed in the middle of it still leaves every event in bronze exactly once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.broker import EmbeddedBroker
from pipelines.infra.settings import Settings
from pipelines.infra.topics import ensure_topics
from tests.test_stream_crash import _worker
from tests.test_stream_support import bronze

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _generator(settings: Settings, address: str, events: int, rate: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUCTION_BROKER_ADDRESS": address, "AUCTION_PARTITIONS": str(settings.partitions)}
    cmd = [sys.executable, "-m", "app", "generate", "--events", str(events), "--rate", str(rate),
           "--partitions", str(settings.partitions), "--no-progress"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _generated_bids(generator: subprocess.Popen[bytes]) -> int:
    out, err = generator.communicate(timeout=120)
    assert generator.returncode == 0, err.decode()[-2000:]
    found = re.search(r"bids=(\d+)", out.decode() + err.decode())
    assert found, out.decode()
    return int(found.group(1))


def _files(lake: Path) -> int:
    return len(list((lake / "bronze" / "bids").glob("date=*/*.parquet")))


def _exactly_once(lake: Path, bids: int) -> None:
    for table in ("bids", "bids-scored"):
        rows = bronze(lake, table)
        assert rows.height == bids and rows["bid_id"].n_unique() == bids, table
    assert bronze(lake, "dead-letters").height == 0, "a replayed bid was taken for a duplicate"
    alerts = bronze(lake, "fraud-alerts")
    assert alerts.select("bidder_id", "auction_id").is_unique().all()


def test_a_worker_that_keeps_up_writes_before_its_checkpoints(own_broker: EmbeddedBroker, settings: Settings) -> None:
    ensure_topics(own_broker.address, settings)
    worker = _worker(settings, own_broker.address, "--commit-interval", "2", "--idle-timeout", "5")
    time.sleep(5)  # the worker joins its group before the traffic starts
    bids = _generated_bids(_generator(settings, own_broker.address, 40_000, 8_000))
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["bronze_early_ranges"] > 0 and summary["state_records_early"] > 0, summary
    _exactly_once(Path(settings.lake_url), bids)


def test_sigkill_during_live_traffic_keeps_bronze_exactly_once(own_broker: EmbeddedBroker, settings: Settings) -> None:
    ensure_topics(own_broker.address, settings)
    lake = Path(settings.lake_url)
    worker = _worker(settings, own_broker.address, "--commit-interval", "2")
    time.sleep(5)
    generator = _generator(settings, own_broker.address, 60_000, 8_000)
    for _ in range(2):
        before, deadline = _files(lake), time.monotonic() + 60
        while _files(lake) <= before and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # past an early write or between a checkpoint's files and its commit
        assert worker.poll() is None, worker.communicate()[1].decode()[-2000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        # the restart waits for the killed member's session to expire, then drains and stops when idle
        worker = _worker(settings, own_broker.address, "--commit-interval", "2", "--idle-timeout", "8")
    bids = _generated_bids(generator)
    out, err = worker.communicate(timeout=240)
    assert worker.returncode == 0, err.decode()[-2000:]
    assert json.loads(out.decode().strip().splitlines()[-1])["stopped_by"] == "idle"
    _exactly_once(lake, bids)
