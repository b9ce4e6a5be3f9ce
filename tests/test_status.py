"""`status` on its own: the report's problems from a status file and a real broker, and the exit code."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from app.cli import main
from app.status import report
from app.status_file import lag, line, status_path, write_status
from pipelines.infra.settings import Settings
from pipelines.infra.topics import ensure_topics


def _payload(address: str, alive: bool, last_status: str | None) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return {
        "updated_at": now, "pid": os.getpid(), "broker": address, "lake": "x", "dashboard_url": None,
        "workers": [{"name": "stream-worker-0", "pid": 1, "alive": alive, "restarts": 2, "started_at": now}],
        "jobs": [{"id": "refresh", "next_run": None, "last_run": now, "last_status": last_status}],
        "lag": {"bids/0": 3}, "rates": {"produced_per_s": 10.0, "scored_per_s": 9.5},
    }  # fmt: skip


def test_status_healthy_and_unhealthy(broker_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    settings = Settings(lake_url=str(tmp_path / "lake"), runtime_dir=tmp_path / "run", broker_timeout_s=1)
    ensure_topics(broker_address, settings)
    status_path(settings).parent.mkdir(parents=True)
    write_status(status_path(settings), _payload(broker_address, True, "success"))
    assert report(settings)["problems"] == []
    write_status(status_path(settings), _payload(broker_address, False, "failed"))
    problems = report(settings)["problems"]
    assert any("stream-worker-0 is not running" in p for p in problems)
    assert any("job refresh failed" in p for p in problems)
    monkeypatch.setenv("AUCTION_LAKE_URL", str(tmp_path / "lake"))
    monkeypatch.setenv("AUCTION_RUNTIME_DIR", str(tmp_path / "run"))
    with pytest.raises(SystemExit) as exited:
        main(["status"])
    out = capsys.readouterr().out
    assert exited.value.code == 1 and out.startswith("health: UNHEALTHY") and "lag: bids/0=3" in out
    # a status file whose broker is gone
    write_status(status_path(settings), _payload("127.0.0.1:1", True, None))
    assert any("unreachable" in p for p in report(settings)["problems"])


def test_status_line_and_lag() -> None:
    assert lag({("bids", 0): 10, ("bids", 1): 4}, {("bids", 0): 7}) == {"bids/0": 3, "bids/1": 4}
    text = line(json.loads(json.dumps(_payload("b:1", True, "success"))))
    assert text.startswith("status: produced 10/s, scored 9.5 bids/s, lag 3, workers 1/1 alive, last batch refresh")


def test_status_reports_a_stream_that_commits_nothing_while_messages_wait(broker_address: str, tmp_path: Path) -> None:
    """A worker alive but stuck (see tests/test_stream_pause.py) is unhealthy, not `OK` with a growing lag."""
    settings = Settings(lake_url=str(tmp_path / "lake"), runtime_dir=tmp_path / "run", broker_timeout_s=1,
                        stall_after_s=60)  # fmt: skip
    ensure_topics(broker_address, settings)
    status_path(settings).parent.mkdir(parents=True)
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=300)).isoformat()
    just_now = dt.datetime.now(dt.UTC).isoformat()
    for progress_at, waiting, stalled in ((long_ago, 3, True), (just_now, 3, False), (long_ago, 0, False)):
        payload = {**_payload(broker_address, True, "success"), "progress_at": progress_at, "lag": {"bids/0": waiting}}
        write_status(status_path(settings), payload)
        problems = report(settings)["problems"]
        assert any("stalled" in p for p in problems) is stalled, (progress_at, waiting, problems)


def test_the_status_writer_moves_progress_only_when_the_group_commits(broker_address: str, tmp_path: Path,
                                                                      unique_name: str) -> None:  # fmt: skip
    from confluent_kafka import Consumer, TopicPartition

    from app.status_file import StatusWriter
    from pipelines.infra.topics import consumer_config

    group = f"status-{unique_name}"
    settings = Settings(lake_url=str(tmp_path / "lake"), runtime_dir=tmp_path / "run", consumer_group=group)
    ensure_topics(broker_address, settings)
    writer = StatusWriter(settings, broker_address, {}, dict, lambda: (0, {}), print)
    first = writer.snapshot()["progress_at"]
    assert writer.snapshot()["progress_at"] == first  # nothing committed since
    consumer = Consumer({**consumer_config(broker_address, group), "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition("bids", 0, 5)], asynchronous=False)
    consumer.close()
    assert writer.snapshot()["progress_at"] > first
