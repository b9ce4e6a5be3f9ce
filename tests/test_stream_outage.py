"""The broker goes away for a while and comes back: the worker waits, rejoins, recovers its state from the
changelog, consumes what was produced after the outage, and every event lands in bronze exactly once.

The embedded broker keeps everything in memory, so a restart of it loses every topic: an outage can only
be survived by a broker that persists. tansu's ``s3://`` storage engine does, so this test runs tansu on
the moto S3 server, stops it mid-stream and starts it again on the same port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from app.broker import tansu_binary, wait_until_ready
from pipelines.infra.settings import Settings
from tests.test_stream_crash import _worker
from tests.test_stream_support import bronze, marketplace, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIDS = 10_000


class PersistentBroker:
    """tansu with its S3 storage engine (on the moto server): topics, offsets and groups survive restarts."""

    def __init__(self, s3_endpoint: str, bucket: str, log: Path) -> None:
        from app.broker import free_port

        self.port, self.log = free_port(), log
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.bucket = bucket
        self.env = {**os.environ, "AWS_ENDPOINT": s3_endpoint, "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
                    "RUST_LOG": "warn"}  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [tansu_binary(), "broker", "--listener-url", self.url, "--advertised-listener-url", self.url,
               "--storage-engine", f"s3://{self.bucket}/", "--cluster-id", "outage"]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_ready(self.address, 15, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def persistent_broker(s3_server: str, unique_name: str, tmp_path: Path) -> Iterator[PersistentBroker]:
    bucket = f"tansu-{unique_name}"
    boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket=bucket)  # fmt: skip
    broker = PersistentBroker(s3_server, bucket, tmp_path / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.parametrize("topology", ["one-stage", "two-stage"])
def test_worker_survives_a_broker_outage(
    persistent_broker: PersistentBroker, settings: Settings, topology: str
) -> None:
    settings = settings.model_copy(update={"stream_topology": topology})
    events = list(marketplace(BIDS, auctions=50, users=100))
    half = len(events) - BIDS // 2
    produce(persistent_broker.address, events[:half], partitions=settings.partitions)
    lake = Path(settings.lake_url)
    worker = _worker(settings, persistent_broker.address)  # runs until signalled
    deadline = time.monotonic() + 90
    while not list((lake / "bronze" / "bids").glob("date=*/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.1)
    persistent_broker.stop()
    time.sleep(5)  # the broker is away
    persistent_broker.start()
    produce(persistent_broker.address, events[half:], partitions=settings.partitions)  # after the outage
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and worker.poll() is None:
        if bronze(lake, "bids").height >= BIDS and bronze(lake, "bids-scored").height >= BIDS:
            break
        time.sleep(0.5)
    assert worker.poll() is None, "the worker died during the outage: " + worker.communicate()[1].decode()[-3000:]
    worker.send_signal(signal.SIGTERM)  # Quix stops cleanly: last checkpoint committed
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err.decode()[-3000:]
    assert json.loads(out.decode().strip().splitlines()[-1])["stopped_by"] == "signal"

    bids = bronze(lake, "bids")
    assert bids.height == BIDS and bids["bid_id"].n_unique() == BIDS
    scored = bronze(lake, "bids-scored")
    assert scored.height == BIDS and scored["bid_id"].n_unique() == BIDS


def test_state_recovery_waits_for_a_broker_that_is_away(persistent_broker: PersistentBroker, unique_name: str) -> None:
    """A partition's state is read back while the broker is away: recovery waits for it instead of failing."""
    import threading

    from pipelines.stream.score import UserDirectory, on_auction, on_bid
    from pipelines.stream.state import recover
    from tests.test_rules import _auction, _bid
    from tests.test_score_state import BrokerChangelog
    from tests.test_stream_support import T0

    broker = BrokerChangelog(persistent_broker.address, unique_name, partitions=1)
    stores, users = broker.cache.stores(0), UserDirectory()
    on_auction(*_auction(1, seller=1), stores)
    for i in range(3):
        on_bid(*_bid(i, 1, 20, T0 + 1000 * (i + 1), 2000 + 100 * i), stores, users)
    stores.offsets[broker.bids] = 2
    broker.checkpoint()
    try:
        broker.commit(0, 3)
        persistent_broker.stop()
        back = threading.Timer(4.0, persistent_broker.start)
        back.start()
        began = time.monotonic()
        recovered = recover(broker.reader, broker.changelog, 0, (broker.bids,), timeout_s=1.0, wait_s=60.0)
        back.join()
        assert time.monotonic() - began >= 4.0  # it did wait for the broker
        assert recovered.auctions["a1"][1] == 3 and recovered.bidders["u20"][4] == 3
    finally:
        broker.reader.close()
