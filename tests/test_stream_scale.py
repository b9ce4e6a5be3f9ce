"""Scale-out: two `python -m app stream` processes share 4 partitions (one consumer group), exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.broker import EmbeddedBroker
from pipelines.infra.settings import Settings
from tests.test_stream_crash import _worker
from tests.test_stream_support import bronze, marketplace, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIDS = 20_000


@pytest.mark.parametrize("topology", ["one-stage", "two-stage"])
def test_two_workers_on_four_partitions_process_everything_once(
    own_broker: EmbeddedBroker, tmp_path: Path, topology: str
) -> None:
    settings = Settings(lake_url=str(tmp_path / "lake"), state_dir=tmp_path / "state", runtime_dir=tmp_path / "run",
                        partitions=4, stream_topology=topology)  # fmt: skip
    produce(own_broker.address, marketplace(BIDS), partitions=4)
    workers = [_worker(settings, own_broker.address, "--idle-timeout", "8") for _ in range(2)]
    summaries = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err.decode()[-2000:]
        summaries.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert all(s["processed"].get("bids", 0) > 0 for s in summaries), summaries  # both took part
    # every partition's state was read back from the changelog by whoever was assigned it
    assert sum(s["state_recoveries"] for s in summaries) >= 4, summaries
    assert all(s["state_records"] > 0 for s in summaries), summaries

    lake = Path(settings.lake_url)
    bids, scored = bronze(lake, "bids"), bronze(lake, "bids-scored")
    assert bids.height == BIDS and bids["bid_id"].n_unique() == BIDS
    assert scored.height == BIDS and scored["bid_id"].n_unique() == BIDS
    assert sorted(bids["_partition"].unique()) == [0, 1, 2, 3]
    assert bronze(lake, "dead-letters").height == 0
    alerts = bronze(lake, "fraud-alerts")
    assert alerts.height > 0 and alerts.select("bidder_id", "auction_id").is_unique().all()
