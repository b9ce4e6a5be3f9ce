"""The stream worker end to end through a real tansu broker: validation, scoring, outputs, bronze, recovery."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from app.broker import EmbeddedBroker
from app.stream import WorkerOptions, run_worker
from pipelines.infra.settings import Settings
from tests.test_stream_support import (
    HOUR,
    T0,
    auction,
    bid,
    bronze,
    marketplace,
    produce,
    read_topic,
    user,
)

pytestmark = pytest.mark.integration


def _invalid() -> list[tuple[str, tuple[str, str | None, bytes | None]]]:
    """(expected error fragment, message) for every kind of bad input the worker must dead-letter."""
    valid = json.loads(bid(900, 1, 20, T0 + 1000, 2000)[2] or b"")

    def variant(**change: object) -> bytes:  # fmt: skip
        return json.dumps({**valid, **change}).encode()

    missing = {k: v for k, v in valid.items() if k != "bidder_id"}
    return [
        ("Invalid JSON", ("bids", "a1", b"{not json")),
        ("amount", ("bids", "a1", variant(bid_id="x1", amount="lots"))),
        ("bidder_id", ("bids", "a1", json.dumps({**missing, "bid_id": "x2"}).encode())),
        ("greater than 0", ("bids", "a1", variant(bid_id="x3", amount="0.00"))),
        ("greater than 0", ("bids", "a1", variant(bid_id="x4", amount="-5.00"))),
        ("unknown currency", ("bids", "a1", variant(bid_id="x5", currency="XYZ"))),
        ("after the auction closed", ("bids", "a1", variant(bid_id="x6", bid_time="2030-01-01T00:00:00.000Z"))),
        ("before the auction opened", ("bids", "a1", variant(bid_id="x7", bid_time="2020-01-01T00:00:00.000Z"))),
        ("duplicate bid_id", ("bids", "a1", variant())),
        ("message key", ("bids", "a2", variant(bid_id="x8"))),
        ("tombstone", ("bids", "a1", None)),
        ("Invalid JSON", ("bids", "a1", b"\xff\xfe\x00binary")),
        ("Invalid JSON", ("users", "u1", b"[]]")),
        ("country", ("users", "u77", json.dumps({**json.loads(user(77)[2] or b""), "country": "usa"}).encode())),
        ("ends before it starts", ("auctions", "a9", auction(9, 1, end_time="2020-01-01T00:00:00.000Z")[2])),
    ]


def _run(settings: Settings, address: str, ends: dict[tuple[str, int], int]) -> None:
    summary = run_worker(settings, address, WorkerOptions(stop_at=ends, commit_interval_s=1.0))
    assert summary.stopped_by == "end offsets"


@pytest.mark.parametrize("topology", ["one-stage", "two-stage"])
def test_validates_scores_alerts_and_lands_everything_in_bronze(
    own_broker: EmbeddedBroker, settings: Settings, topology: str
) -> None:
    settings = settings.model_copy(update={"stream_topology": topology})
    honest = [bid(i, i % 3, 20 + i % 5, T0 + 60_000 + i * 60_000, 1100 + i * 100) for i in range(30)]
    bot = [bid(100 + i, 1, 99, T0 + 3 * HOUR + i * 2000, 5000 + i * 100) for i in range(20)]  # 20 bids in 40 s
    invalid = _invalid()
    messages = [user(i) for i in range(100)] + [auction(a, seller=a) for a in range(3)]
    original = bid(900, 1, 20, T0 + 1000, 2000)  # its replay is one of the invalid ones
    messages += [*honest, original, *bot, *[m for _, m in invalid]]
    ends = produce(own_broker.address, messages)

    _run(settings, own_broker.address, ends)

    lake = Path(settings.lake_url)
    valid_ids = {f"b{i}" for i in range(30)} | {f"b{100 + i}" for i in range(20)} | {"b900"}
    bids, scored = bronze(lake, "bids"), bronze(lake, "bids-scored")
    assert sorted(bids["bid_id"].to_list()) == sorted(valid_ids)
    assert sorted(scored["bid_id"].to_list()) == sorted(valid_ids)
    assert scored["fraud_score"].is_between(0.0, 1.0).all()
    assert set(bronze(lake, "users")["user_id"]) == {f"u{i}" for i in range(100)}
    assert bronze(lake, "auctions").height == 3

    letters = bronze(lake, "dead-letters").sort("source_topic", "source_partition", "source_offset")
    assert letters.height == len(invalid)
    errors = letters["error"].to_list()
    for fragment, _ in invalid:
        assert any(fragment in e for e in errors), (fragment, errors)
    assert "base64" in letters["encoding"].to_list()
    assert letters.select("source_topic", "source_partition", "source_offset").is_unique().all()

    alerts = bronze(lake, "fraud-alerts")
    assert "u99" in alerts["bidder_id"].to_list()
    assert alerts.select("bidder_id", "auction_id").is_unique().all()
    bot_scores = scored.filter(scored["bidder_id"] == "u99").sort("bid_time")["fraud_score"]
    assert bot_scores[-1] > scored.filter(scored["bidder_id"] != "u99")["fraud_score"].max()

    on_topic = [json.loads(v or b"") for _, v in read_topic(own_broker.address, "bids-scored")]
    assert {r["bid_id"] for r in on_topic} <= valid_ids
    assert all("fraud_reasons" in r for r in on_topic)


@pytest.mark.parametrize("topology", ["one-stage", "two-stage"])
def test_state_comes_back_from_the_changelog_after_restart(
    own_broker: EmbeddedBroker, settings: Settings, topology: str
) -> None:
    """Second run starts with an empty state dir: it must still know the auction, the bid ids and the alert
    (two stages: and the bidder stage's signup times and profiles)."""
    settings = settings.model_copy(update={"stream_topology": topology})
    first = [user(i) for i in range(99)] + [user(99, signup_ms=T0 - 24 * HOUR), auction(1, seller=1, hours=2)]
    first += [bid(i, 1, 99, T0 + 1000 + i * 1000, 2000 + i * 100) for i in range(20)]
    _run(settings, own_broker.address, produce(own_broker.address, first))
    second = [bid(5, 1, 99, T0 + 6000, 2500)]  # a replayed bid: duplicate id
    second += [bid(200, 1, 99, T0 + 3 * HOUR, 9000)]  # after the 2 h auction closed: known only from state
    second += [bid(300 + i, 1, 99, T0 + 30_000 + i * 500, 9000 + i * 100) for i in range(5)]  # still a bot
    second += [bid(400, 1, 99, T0 + 40_000, 50_000)]  # a day-old account jumping the price: known from state
    _run(settings, own_broker.address, produce(own_broker.address, second))

    lake = Path(settings.lake_url)
    errors = bronze(lake, "dead-letters")["error"].to_list()
    assert any("duplicate bid_id b5" in e for e in errors)
    assert any("after the auction closed" in e for e in errors)
    alerts = bronze(lake, "fraud-alerts")
    assert alerts.height == 1  # the bot's alert for a1 was raised in the first run, not again
    assert bronze(lake, "bids").height == 26
    if topology == "one-stage":  # signup times live in the process: a new process has none
        return
    # the bidder stage's state came back too: signup times (users are not replayed) and the bidder's profile
    scored = bronze(lake, "bids-scored").filter(pl.col("bid_id").str.starts_with("b30") | (pl.col("bid_id") == "b400"))
    assert scored.height == 6
    assert not any("unknown_user" in reasons for reasons in scored["fraud_reasons"].to_list())
    assert "bid_velocity" in scored.filter(pl.col("bid_id") == "b304")["fraud_reasons"][0].to_list()
    assert "new_account_jump" in scored.filter(pl.col("bid_id") == "b400")["fraud_reasons"][0].to_list()


def test_stream_command_help_says_what_it_does() -> None:
    from click.testing import CliRunner

    from app.cli import cli

    result = CliRunner().invoke(cli, ["stream", "--help"])
    assert result.exit_code == 0
    assert "validate, score bids" in result.output and "--idle-timeout" in result.output


def test_unreachable_broker_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "AUCTION_BROKER_ADDRESS": "127.0.0.1:1", "AUCTION_BROKER_TIMEOUT_S": "1",
           "AUCTION_LAKE_URL": str(tmp_path / "lake"), "AUCTION_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "app", "stream"], env=env, capture_output=True, timeout=60)
    lines = [line for line in done.stderr.decode().splitlines() if line.startswith(("error", "Traceback"))]
    assert done.returncode == 1
    assert lines == [lines[0]] and lines[0].startswith("error: broker at 127.0.0.1:1 did not answer")


def test_a_broker_gone_for_longer_than_the_outage_allowance_is_one_line(
    own_broker: EmbeddedBroker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from pipelines.infra.topics import ensure_topics
    from tests.test_stream_crash import _worker

    ensure_topics(own_broker.address, settings)
    monkeypatch.setenv("AUCTION_BROKER_OUTAGE_S", "3")
    worker = _worker(settings, own_broker.address)
    time.sleep(6)  # joined its group
    assert worker.poll() is None, worker.communicate()[1].decode()[-2000:]
    assert own_broker.process is not None
    own_broker.process.kill()  # gone for good
    _, err = worker.communicate(timeout=90)
    lines = [line for line in err.decode().splitlines() if line.startswith(("error", "Traceback"))]
    assert worker.returncode == 1
    assert lines == [lines[0]] and lines[0].startswith(f"error: the broker at {own_broker.address} was unreachable")
    assert "AUCTION_BROKER_OUTAGE_S=3 s" in lines[0]


def test_auto_created_topics_without_retention_are_a_clear_error(
    own_broker: EmbeddedBroker, settings: Settings
) -> None:
    from confluent_kafka import Producer

    from pipelines.infra.errors import UserError
    from pipelines.infra.topics import producer_config

    producer = Producer(producer_config(own_broker.address))
    producer.produce("bids", key="a1", value=b"{}")  # auto-creates "bids": broker defaults, no retention.ms
    assert producer.flush(10) == 0
    with pytest.raises(UserError, match=r"python -m app topics"):
        run_worker(settings, own_broker.address, WorkerOptions(idle_timeout_s=1))


def test_a_failed_worker_that_hangs_on_shutdown_exits() -> None:
    """A failed worker whose shutdown hangs exits; one whose run shut down in time does not."""
    import threading
    import time

    from app.stream import exit_if_stuck_after_failure

    class App:
        stops: list[bool] = []

        def stop(self, fail: bool = False) -> None:
            self.stops.append(fail)

    exited = threading.Event()
    app = App()
    exit_if_stuck_after_failure(app, 0.05, exit=lambda code: exited.set())
    app.stop()  # a clean stop arms nothing
    time.sleep(0.2)
    assert not exited.is_set()
    app.stop(fail=True)
    assert exited.wait(5) and App.stops == [False, True]

    exited.clear()
    other = App()
    shut_down = exit_if_stuck_after_failure(other, 0.3, exit=lambda code: exited.set())
    other.stop(fail=True)
    shut_down.set()  # the run shut down in time: this watchdog stands down
    assert not exited.wait(0.6)


def test_partitions_given_up_in_a_rebalance_drop_their_state(own_broker: EmbeddedBroker, settings: Settings) -> None:
    """Quix's rebalance callbacks reach the state: a lost partition is recovered again on its next use."""
    from confluent_kafka import TopicPartition

    from app.stream import build_application, changelog_topic, ensure_topics

    ensure_topics(own_broker.address, settings)
    ensure_topics(own_broker.address, settings, (changelog_topic(settings.consumer_group),), compact=True)
    built = build_application(settings, own_broker.address, Path(settings.state_dir), WorkerOptions())
    try:
        held = built.state.stores(1)
        held.auctions["a1"] = ["not checkpointed"]
        assert built.state.stores(1) is held and built.state.recoveries == 1
        built.app._on_lost(None, [TopicPartition("auctions", 1), TopicPartition("bids", 1)])
        assert built.state.releases == 1
        again = built.state.stores(1)
        assert again is not held and again.auctions["a1"] is None and built.state.recoveries == 2
    finally:
        built.reader.close()


def test_batched_passes_process_what_quix_would_in_the_same_order(
    own_broker: EmbeddedBroker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's batched pass (``process_batch``) against Quix's one message per pass, on the same topics:
    every message once, each partition's messages in the same time-aligned order, the same outputs. With an
    idle timeout, Quix would also keep every message's final value unless told not to collect."""
    import app.quix_batch as quix_batch

    ends = produce(own_broker.address, marketplace(3_000, auctions=40, users=100))
    monkeypatch.setattr(quix_batch, "BATCH", 7)  # many batch boundaries, some cut short by an empty buffer
    runs: dict[str, list[tuple[str, int, int]]] = {}
    apps: list[object] = []
    for name, batched in (("quix", False), ("batched", True)):
        seen = runs[name] = []

        def on_ready(app: object, seen: list[tuple[str, int, int]] = seen, batched: bool = batched) -> None:
            processed = app._on_message_processed  # type: ignore[attr-defined]

            def record(topic: str, partition: int, offset: int) -> None:
                seen.append((topic, partition, offset))
                processed(topic, partition, offset)

            app._on_message_processed = record  # type: ignore[attr-defined]
            app._batched = batched  # type: ignore[attr-defined]
            apps.append(app)

        # one stage (the baseline): with two, the bidder stage's input interleaves with the others as internal records
        # arrive (timing, not the pass), so the orders compared here would differ for reasons not the pass's
        run_settings = settings.model_copy(
            update={"consumer_group": f"group-{name}", "lake_url": str(Path(settings.lake_url) / name),
                    "stream_topology": "one-stage"}
        )  # fmt: skip
        summary = run_worker(
            run_settings, own_broker.address, WorkerOptions(stop_at=ends, on_ready=on_ready, idle_timeout_s=10)
        )
        assert summary.stopped_by == "end offsets"
        assert apps[-1]._run_tracker.collected == []  # type: ignore[attr-defined]

    assert len(runs["batched"]) == len(set(runs["batched"])) == sum(ends.values())
    for partition in {p for _, p in ends}:
        assert [m for m in runs["batched"] if m[1] == partition] == [m for m in runs["quix"] if m[1] == partition]
    scored = {name: bronze(Path(settings.lake_url) / name, "bids-scored").sort("bid_id") for name in runs}
    assert scored["batched"].height == 3_000
    columns = ["bid_id", "fraud_score", "fraud_reasons"]
    assert scored["batched"].select(columns).equals(scored["quix"].select(columns))


def test_a_commit_refused_because_the_group_lost_the_worker_rejoins_and_loses_nothing(
    own_broker: EmbeddedBroker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit the broker refuses with UNKNOWN_MEMBER_ID (after a broker restart that forgot the group, or a
    session timeout) does not end the worker: it joins again and replays from the committed offsets, and
    bronze still holds every bid once. The refusal is injected (the real one depends on a race with the
    heartbeat: ``test_stream_outage`` meets it sometimes), after bronze was written for the refused range."""
    from confluent_kafka import KafkaError, KafkaException
    from quixstreams.kafka.consumer import BaseConsumer

    ends = produce(own_broker.address, marketplace(4_000, auctions=40, users=100))
    commit, calls = BaseConsumer.commit, []

    def refuse_the_second(self: BaseConsumer, *args: object, **kwargs: object) -> object:
        if kwargs.get("offsets"):
            calls.append(kwargs["offsets"])
            if len(calls) == 2:
                raise KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "Broker: Unknown member"))
        return commit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(BaseConsumer, "commit", refuse_the_second)
    monkeypatch.setattr("app.quix_batch.BATCH", 50)  # several checkpoints before the end offsets
    summary = run_worker(settings, own_broker.address, WorkerOptions(stop_at=ends, commit_interval_s=0.05))
    assert summary.stopped_by == "end offsets" and summary.rejoins == 1 and len(calls) >= 3
    assert sum(summary.processed.values()) > sum(ends.values())  # the refused range was processed twice
    lake = Path(settings.lake_url)
    for table in ("bids", "bids-scored"):
        rows = bronze(lake, table)
        assert rows.height == 4_000 and rows["bid_id"].n_unique() == 4_000, table
    assert bronze(lake, "users").height == 100 and bronze(lake, "auctions").height == 40


def test_a_worker_the_group_keeps_dropping_gives_up_with_one_line(
    own_broker: EmbeddedBroker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confluent_kafka import KafkaError, KafkaException
    from quixstreams.kafka.consumer import BaseConsumer

    from pipelines.infra.errors import UserError

    monkeypatch.setattr("app.stream.MAX_REJOINS", 2)  # a join takes ~3 s on tansu
    ends = produce(own_broker.address, marketplace(200, auctions=10, users=20))
    commits: list[object] = []

    def refuse(self: BaseConsumer, *args: object, **kwargs: object) -> object:
        commits.append(kwargs.get("offsets"))
        raise KafkaException(
            KafkaError(KafkaError.ILLEGAL_GENERATION, "Broker: Specified group generation id is not valid")
        )

    monkeypatch.setattr(BaseConsumer, "commit", refuse)
    with pytest.raises(UserError, match="dropped this worker 3 times in a row"):
        run_worker(settings, own_broker.address, WorkerOptions(stop_at=ends, commit_interval_s=0.05))
    assert len(commits) == 3


def test_a_refused_last_commit_of_a_stopping_worker_ends_it_and_the_next_run_replays_it(
    own_broker: EmbeddedBroker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked to stop (here: idle), a worker whose last commit is refused stops instead of joining again; the
    next run processes that checkpoint again and bronze still holds every bid once."""
    from confluent_kafka import KafkaError, KafkaException
    from quixstreams.kafka.consumer import BaseConsumer

    from pipelines.infra.topics import committed_offsets

    ends = produce(own_broker.address, marketplace(300, auctions=10, users=20))
    commit, apps = BaseConsumer.commit, []

    def refuse_when_stopping(self: BaseConsumer, *args: object, **kwargs: object) -> object:
        if kwargs.get("offsets") and not apps[-1]._run_tracker.running:
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "Broker: Unknown member"))
        return commit(self, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(BaseConsumer, "commit", refuse_when_stopping)
        # one checkpoint only, the last: the interval is longer than the run
        options = WorkerOptions(idle_timeout_s=2, commit_interval_s=600, on_ready=apps.append)
        summary = run_worker(settings, own_broker.address, options)
    assert summary.stopped_by == "idle" and summary.rejoins == 0 and summary.commits == 0
    assert sum(summary.processed.values()) == sum(ends.values())
    assert committed_offsets(own_broker.address, settings.consumer_group, 10) == {}
    lake = Path(settings.lake_url)
    assert bronze(lake, "bids").height == 300  # written before the refused commit

    again = run_worker(settings, own_broker.address, WorkerOptions(stop_at=ends, commit_interval_s=1.0))
    assert again.stopped_by == "end offsets" and sum(again.processed.values()) == sum(ends.values())
    bids = bronze(lake, "bids")
    assert bids.height == 300 and bids["bid_id"].n_unique() == 300
