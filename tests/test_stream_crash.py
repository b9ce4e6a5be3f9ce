"""Crash test: SIGKILL a real `python -m app stream` process again and again while it works through 50k bids.

After the restarts every input event and every output is in bronze exactly once (at-least-once replay
plus the idempotent sink), no replayed bid is mistaken for a duplicate (state is consistent with the
committed offsets), and no alert is raised twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.broker import EmbeddedBroker
from pipelines.infra.settings import Settings
from tests.test_stream_support import bronze, marketplace, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIDS = 50_000


def _worker(settings: Settings, address: str, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AUCTION_BROKER_ADDRESS": address,
        "AUCTION_LAKE_URL": settings.lake_url,
        "AUCTION_STATE_DIR": str(settings.state_dir),
        "AUCTION_RUNTIME_DIR": str(settings.runtime_dir),
        "AUCTION_PARTITIONS": str(settings.partitions),
        "AUCTION_STREAM_TOPOLOGY": settings.stream_topology,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app", "stream", "--commit-interval", "1", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _bronze_files(lake: Path) -> int:
    return len(list((lake / "bronze" / "bids").glob("date=*/*.parquet")))


@pytest.mark.parametrize("topology", ["one-stage", "two-stage"])
def test_sigkill_and_restart_keeps_bronze_exactly_once(
    own_broker: EmbeddedBroker, settings: Settings, topology: str
) -> None:
    settings = settings.model_copy(update={"stream_topology": topology})
    produce(own_broker.address, marketplace(BIDS), partitions=settings.partitions)
    lake = Path(settings.lake_url)
    killed_while_working = 0
    for round_ in range(3):
        worker = _worker(settings, own_broker.address)
        before = _bronze_files(lake)
        deadline = time.monotonic() + 60
        while _bronze_files(lake) <= before and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5 + 0.7 * round_)  # mid-checkpoint: some files written, some rows only buffered
        if worker.poll() is None:
            killed_while_working += 1
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert killed_while_working == 3, "the worker finished before it could be killed: raise BIDS"

    final = _worker(settings, own_broker.address, "--idle-timeout", "6")
    out, err = final.communicate(timeout=240)
    assert final.returncode == 0, err.decode()[-2000:]
    assert json.loads(out.decode().strip().splitlines()[-1])["stopped_by"] == "idle"

    bids, scored = bronze(lake, "bids"), bronze(lake, "bids-scored")
    assert bids.height == BIDS and bids["bid_id"].n_unique() == BIDS
    assert scored.height == BIDS and scored["bid_id"].n_unique() == BIDS
    assert bronze(lake, "dead-letters").height == 0, "a replayed bid was taken for a duplicate"
    assert bronze(lake, "users").height == 300 and bronze(lake, "auctions").height == 200
    alerts = bronze(lake, "fraud-alerts")
    assert alerts.height > 0
    assert alerts["alert_id"].n_unique() == alerts.height
    assert alerts.select("bidder_id", "auction_id").is_unique().all()
