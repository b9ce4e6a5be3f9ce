"""The embedded broker: starts, answers, and never outlives the process that started it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.broker import EmbeddedBroker, broker_address, running_embedded_broker, wait_until_ready
from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings
from pipelines.infra.topics import TOPICS, broker_run_id, describe_topics, ensure_topics, tail

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_embedded_broker_starts_and_stops() -> None:
    broker = EmbeddedBroker().start()
    assert broker.process is not None
    pid = broker.process.pid
    wait_until_ready(broker.address, 5)
    broker.stop()
    assert _wait_dead(pid)


def test_unreachable_broker_fails_fast_with_one_line() -> None:
    from app.broker import free_port

    settings = Settings(broker_address=f"127.0.0.1:{free_port()}", broker_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(UserError) as info, broker_address(settings):
        pass
    assert time.monotonic() - started < 10
    assert "did not answer within 2 s" in str(info.value) and "\n" not in str(info.value)


def _spawn_holder(tmp_path: Path, body: str) -> subprocess.Popen[str]:
    """A child python process that starts an embedded broker, prints its tansu pid, then runs `body`."""
    script = tmp_path / "holder.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from app.broker import broker_address
            from pipelines.infra.settings import Settings
            settings = Settings(runtime_dir=sys.argv[1])
            with broker_address(settings, publish=True) as address:
                import json
                print(json.dumps({"address": address}), flush=True)
            """
        ).rstrip()
        + "\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "run")], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )


@pytest.mark.parametrize(
    ("how", "body"),
    [
        ("sigkill", "time.sleep(60)"),
        ("sigterm", "time.sleep(60)"),
        ("sigint", "time.sleep(60)"),
        ("crash", "time.sleep(0.5); raise RuntimeError('boom')"),
    ],
)
def test_no_orphan_broker(tmp_path: Path, how: str, body: str) -> None:
    holder = _spawn_holder(tmp_path, body)
    assert holder.stdout is not None
    json.loads(holder.stdout.readline())
    record = json.loads((tmp_path / "run" / "embedded-broker.json").read_text())
    tansu_pid = record["tansu_pid"]
    assert _alive(tansu_pid)
    if how == "sigkill":
        holder.kill()
    elif how == "sigterm":
        holder.send_signal(signal.SIGTERM)
    elif how == "sigint":
        holder.send_signal(signal.SIGINT)
    holder.wait(timeout=15)
    assert _wait_dead(tansu_pid), f"tansu outlived its parent after {how}"


def test_other_commands_attach_to_a_running_embedded_broker(tmp_path: Path) -> None:
    holder = _spawn_holder(tmp_path, "time.sleep(60)")
    try:
        assert holder.stdout is not None
        address = json.loads(holder.stdout.readline())["address"]
        settings = Settings(runtime_dir=tmp_path / "run")
        assert running_embedded_broker(settings) == address
        with broker_address(settings) as attached:
            assert attached == address
    finally:
        holder.kill()
        holder.wait()
    assert running_embedded_broker(settings) is None


def test_topics_are_created_idempotently_with_explicit_config(broker_address: str, unique_name: str) -> None:
    settings = Settings(partitions=3, retention_ms=3_600_000)
    names = tuple(f"{t}-{unique_name}" for t in TOPICS)
    assert sorted(ensure_topics(broker_address, settings, names)) == sorted(names)
    assert ensure_topics(broker_address, settings, names) == []
    infos = {i.name: i for i in describe_topics(broker_address)}
    for name in names:
        assert infos[name].partitions == 3
        assert infos[name].config["retention.ms"] == "3600000"
        assert infos[name].config["retention.bytes"] == "-1"
    # the broker run id is stable for a topic's life and differs between topics
    assert broker_run_id(broker_address, names[0]) == broker_run_id(broker_address, names[0])
    assert broker_run_id(broker_address, names[0]) != broker_run_id(broker_address, names[1])


def test_tail_returns_the_newest_messages(broker_address: str, unique_name: str) -> None:
    from confluent_kafka import Producer

    from pipelines.infra.topics import producer_config

    topic = f"tail-{unique_name}"
    ensure_topics(broker_address, Settings(partitions=1), (topic,))
    producer = Producer(producer_config(broker_address))
    for i in range(20):
        producer.produce(topic, key=f"k{i}", value=json.dumps({"i": i}))
    producer.produce(topic, key="raw", value=b"\xff not json")
    assert producer.flush(10) == 0
    rows = tail(broker_address, topic, 5)
    assert [r["value"] for r in rows[:4]] == [{"i": i} for i in range(16, 20)]
    assert rows[-1]["key"] == "raw" and rows[-1]["value"].endswith("not json")
    assert [r["offset"] for r in rows] == list(range(16, 21))
    with pytest.raises(UserError, match="does not exist"):
        tail(broker_address, f"missing-{unique_name}", 5)
