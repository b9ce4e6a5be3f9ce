"""`python -m app bench import` on a tiny history: JSON with the replay, the time to gold and the baseline."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.cli import main


@pytest.mark.integration  # starts the embedded broker and a stream worker
def test_bench_import_prints_json_with_replay_and_time_to_gold(capsys: Any) -> None:
    main(["bench", "import", "--bids", "400", "--partitions", "2", "--rounds", "1"])
    report = json.loads(capsys.readouterr().out)
    assert report["benchmark"] == "import" and report["rows"] == 400
    (only,) = report["rounds"]
    assert only["replay"]["events"] == only["lake"]["events"] > 400
    assert only["replay"]["events_per_s"] > 0 and only["to_gold"]["total_s"] >= only["to_gold"]["scored_s"]
    assert only["scorer"]["bids_scored"] == only["scorer"]["bids_sent"] == 400
    assert only["scorer"]["dead_letters"] == 0 and only["to_gold"]["fraud_daily_rows"] >= 1
    assert report["to_gold_over_lake"]["min"] == only["to_gold_over_lake"] > 0
