"""`import --to broker`: a real history replayed through the stream worker gets scores, alerts and gold.

End to end on the real broker binary: the command alone (its own embedded broker, a worker in process),
a running `python -m app stream` with `--wait`, re-runs that add nothing to silver or gold, and a broker
that goes away mid-replay.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.batch import run_batch
from app.broker import EmbeddedBroker
from app.replay import replay
from app.replay_report import ScorerReport, scorer_report
from app.stream import WorkerOptions, run_worker
from pipelines.infra.duck import connect
from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings
from pipelines.infra.topics import bidder_topic, broker_run_id
from pipelines.ingest.ebay import translate
from pipelines.ingest.read import open_rows
from pipelines.ingest.replay import ReplaySummary, produce, replay_order, run_replay

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SAMPLE = str(DATA / "ebay_sample.csv")


def _sql(settings: Settings, query: str) -> list[tuple[object, ...]]:
    con = connect(settings)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "AUCTION_LAKE_URL": str(settings.lake_url),
            "AUCTION_STATE_DIR": str(settings.state_dir), "AUCTION_RUNTIME_DIR": str(settings.runtime_dir),
            "AUCTION_PARTITIONS": str(settings.partitions), **extra}  # fmt: skip


def _gold(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    alerted = _sql(
        settings, "select count(*) from duckdb_views() where schema_name = 'silver' and view_name = 'fraud_alerts'"
    )
    return {
        "bids": _sql(settings, "select count(*), count(distinct bid_id), count(fraud_score) from silver.bids"),
        # a history without alerts (the 30-bid sample) has no fraud_alerts files, so no view
        "alerts": _sql(settings, "select count(*), count(distinct alert_id) from silver.fraud_alerts")
        if alerted[0][0]
        else [],
        "fraud_daily": _sql(settings, "select * from gold.fraud_daily order by date"),
        "revenue": _sql(settings, "select * from gold.daily_revenue order by date"),
    }


def test_the_order_puts_users_and_openings_before_bids_and_closes_after(tmp_path: Path) -> None:
    _, rows = open_rows(SAMPLE, Path(SAMPLE).read_bytes(), "ebay")
    events = translate(rows, dt.datetime(2026, 1, 5, tzinfo=dt.UTC)).events
    messages = replay_order(events)
    assert len(messages) == sum(len(v) for v in events.values())
    assert [m[0] for m in messages] == sorted(m[0] for m in messages)
    where = {(topic, key, value.count(b'"status":"closed"')): i for i, (_, topic, key, value) in enumerate(messages)}
    for i, (_, topic, key, _value) in enumerate(messages):
        if topic == "bids":
            assert where[("auctions", key, 0)] < i < where[("auctions", key, 1)]


@pytest.mark.integration  # the command starts its own embedded broker
def test_the_command_alone_scores_the_real_history_and_a_rerun_adds_nothing(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "auction.csv"
    path.write_bytes(gzip.decompress((DATA / "ebay_auctions.csv.gz").read_bytes()))
    command = [sys.executable, "-m", "app", "import", str(path), "--format", "ebay", "--to", "broker"]
    first = subprocess.run(command, capture_output=True, text=True, env=_env(settings), timeout=300)
    assert first.returncode == 0, first.stderr
    assert "scorer: 10681 of 10681 bids scored, 3391 bidders" in first.stdout
    assert "; 0 dead letters" in first.stdout  # no row the lake import accepts is refused by the worker
    alerts_line = next(line for line in first.stdout.splitlines() if line.startswith("alerts: "))
    assert "by reason: " in alerts_line and "% of the bidders scored" in alerts_line
    # the sanity bar: a minority an analyst can review (20.0 % before the rules read bids as proxy maxima)
    share = float(alerts_line.split("(")[2].split("%")[0])
    assert 0 < share < 10, alerts_line
    run_batch(settings)
    before = _gold(settings)
    assert before["bids"] == [(10_679, 10_679, 10_679)]  # two are below their openbid: silver's quarantine
    assert before["alerts"] and before["alerts"][0][0] > 0  # so the re-run below compares alerts too
    (day_totals,) = _sql(settings, "select sum(scored_bids), sum(alerts), sum(flagged_bidders) from gold.fraud_daily")
    assert day_totals[0] == 10_679 and day_totals[1] > 0 and day_totals[2] > 0

    second = subprocess.run(command, capture_output=True, text=True, env=_env(settings), timeout=300)
    assert second.returncode == 0, second.stderr
    run_batch(settings)
    # a second broker run's bronze: silver keeps each id once, and the replay was scored the same way
    assert _gold(settings) == before


def test_a_running_worker_scores_the_replay_and_a_rerun_is_duplicates(
    own_broker: EmbeddedBroker, settings: Settings
) -> None:
    settings = settings.model_copy(update={"broker_address": own_broker.address})
    worker = subprocess.Popen(
        [sys.executable, "-m", "app", "stream"], env=_env(settings, AUCTION_BROKER_ADDRESS=own_broker.address),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines: list[str] = []
        _, sent, scored = replay(settings, SAMPLE, "ebay", "bids", None, None, True, lines.append)
        assert isinstance(scored, ScorerReport)
        assert (scored.bids_sent, scored.bids_scored, scored.dead_letters) == (30, 30, 0)
        assert scored.bidders_scored == 17 - 3  # 17 users: 14 bidders and the 3 synthetic sellers
        assert any(line.startswith("scorer: 30 of 30 bids scored") for line in lines)
        _, _, again = replay(settings, SAMPLE, "ebay", "bids", None, None, True, lines.append)
        assert again is not None and again.bids_sent == 30
        # the worker still knows these bids: each is refused as a duplicate, none scored twice
        assert again.bids_scored + again.dead_letters_by_error.get("duplicate bid_id", 0) == 30
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    run_batch(settings)
    assert _gold(settings)["bids"] == [(30, 30, 30)]
    assert sent.end_offsets and all(end > 0 for end in sent.end_offsets.values())


def test_wait_without_a_worker_fails_with_one_line(own_broker: EmbeddedBroker, settings: Settings) -> None:
    settings = settings.model_copy(update={"broker_address": own_broker.address, "broker_outage_s": 2.0})
    with pytest.raises(UserError, match="no stream worker of group auction-stream consumed the replay") as caught:
        replay(settings, SAMPLE, "ebay", "bids", None, None, True, lambda line: None)
    assert "\n" not in str(caught.value) and "python -m app stream" in str(caught.value)


def test_a_broker_that_goes_away_fails_within_its_timeout_and_a_rerun_completes(
    own_broker: EmbeddedBroker, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "auction.csv"
    path.write_bytes(gzip.decompress((DATA / "ebay_auctions.csv.gz").read_bytes()))
    timeout = 3.0
    gone = settings.model_copy(update={"broker_address": own_broker.address, "broker_timeout_s": timeout})
    _, rows = open_rows(str(path), path.read_bytes(), "ebay")
    messages = replay_order(translate(rows, dt.datetime(2026, 1, 5, tzinfo=dt.UTC)).events)
    assert own_broker.process is not None
    killer = threading.Timer(1.5, own_broker.process.kill)
    began = time.monotonic()
    killer.start()
    with pytest.raises(UserError) as caught:  # paced: 10 days of history in 10 s, the broker dies after 1.5
        produce(own_broker.address, gone, messages, speed=86_400)
    elapsed = time.monotonic() - began
    killer.join()
    message = str(caught.value)
    assert message.startswith(f"replaying to the broker {own_broker.address} failed") and "\n" not in message
    assert "re-run the same import" in message
    assert elapsed < 1.5 + timeout + 5, elapsed

    with EmbeddedBroker(log_path=tmp_path / "tansu2.log").start() as fresh:
        again = settings.model_copy(update={"broker_address": fresh.address})
        report, sent = run_replay(again, fresh.address, SAMPLE, "ebay")
        assert sent.counts == {"users": 17, "auctions": 6, "bids": 30} and report.rejects == []
        summary = run_worker(again, fresh.address, WorkerOptions(stop_at=sent.end_offsets, commit_interval_s=1.0))
        assert summary.stopped_by == "end offsets"
    run_batch(settings)
    assert _gold(settings)["bids"] == [(30, 30, 30)]


def test_own_format_files_replay_topic_by_topic(own_broker: EmbeddedBroker, settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"broker_address": own_broker.address})
    _, rows = open_rows(SAMPLE, Path(SAMPLE).read_bytes(), "ebay")
    events = translate(rows, dt.datetime(2026, 1, 5, tzinfo=dt.UTC)).events
    ends: dict[tuple[str, int], int] = {}
    sent: dict[str, ReplaySummary] = {}
    for topic in ("users", "auctions", "bids"):  # users and auctions before the bids that need them
        path = tmp_path / f"{topic}.jsonl"
        path.write_text("".join(e.model_dump_json() + "\n" for e in events[topic]))
        report, sent[topic] = run_replay(settings, own_broker.address, str(path), "jsonl", topic)
        assert report.rejects == [] and sent[topic].counts == {topic: len(events[topic])}
        ends.update(sent[topic].end_offsets)
    summary = run_worker(settings, own_broker.address, WorkerOptions(stop_at=ends, commit_interval_s=1.0))
    assert summary.stopped_by == "end offsets"
    runs = {name: broker_run_id(own_broker.address, name) for name in ("users", "auctions", "bids")}
    internal = (broker_run_id(own_broker.address, bidder_topic(settings.consumer_group)), {})  # two stages
    scored = scorer_report(settings, runs, sent["bids"], internal)
    assert (scored.bids_sent, scored.bids_scored, scored.dead_letters) == (30, 30, 0)
    run_batch(settings)
    assert _gold(settings)["bids"] == [(30, 30, 30)]
