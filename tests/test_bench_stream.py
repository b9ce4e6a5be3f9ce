"""The stream benchmark's own machinery: CPU accounting by thread role, the two-workers ceiling, and the wait
for a group's committed offsets that ends its scale phase (against the real broker)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from statistics import median

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from app.benchmarks.cpu import ROLES, CpuSampler
from app.benchmarks.stream import _ceiling, _wait_committed
from app.settings import Settings
from app.topics import consumer_config, ensure_topics, producer_config

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU is read from Linux's /proc")


def _spin(seconds: float, name: str | None = None) -> None:
    """Burn CPU in this thread for ``seconds`` (named ``name`` for the OS, like librdkafka names its threads)."""
    if name:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
            f.write(name)
    block = b"x" * (1 << 20)
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        hashlib.sha256(block)  # hashes a large buffer without the GIL: the sampler thread keeps sampling


@linux_only
def test_cpu_is_attributed_to_the_thread_that_used_it() -> None:
    with CpuSampler([os.getpid()], None, every_s=0.05) as cpu:
        start = time.time()
        workers = [threading.Thread(target=_spin, args=(0.4,)), threading.Thread(target=_spin, args=(0.4, "rdk:test"))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        time.sleep(0.2)  # the main thread idles; the spinning threads have ended (their CPU still counts)
        end = time.time()
    cores = cpu.cores(start, end)
    assert cores is not None
    seconds = end - start
    assert cores["other"] * seconds > 0.25 and cores["librdkafka"] * seconds > 0.25
    assert cores["main"] * seconds < 0.15 and cores["broker"] == 0.0
    assert cores["total"] == pytest.approx(sum(cores[role] for role in ROLES), abs=0.01)


def test_a_window_without_two_samples_has_no_figure() -> None:
    with CpuSampler([os.getpid()], None, every_s=10) as cpu:
        pass
    assert cpu.cores(time.time() - 1, time.time()) is None


def test_the_two_workers_ceiling_is_the_cores_over_what_one_workers_run_used() -> None:
    cpus = os.cpu_count() or 1
    assert _ceiling({"cores": {"total": cpus / 1.6}}) == 1.6
    assert _ceiling({"cores": {"total": cpus / 3}}) == 2.0  # never above two workers' worth
    assert _ceiling({"cores": None}) is None


def test_the_scale_phase_waits_until_the_group_committed_the_end_offsets(broker_address: str, unique_name: str) -> None:
    topic, group = f"scale-{unique_name}", f"group-{unique_name}"
    ensure_topics(broker_address, Settings(partitions=1), (topic,))
    producer = Producer(producer_config(broker_address))
    for n in range(5):
        producer.produce(topic, f"m{n}".encode())
    assert producer.flush(10) == 0
    with pytest.raises(TimeoutError, match=group):
        _wait_committed(broker_address, group, {(topic, 0): 5}, timeout_s=1)
    committer = Consumer({**consumer_config(broker_address, group), "enable.auto.commit": False})
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    finally:
        committer.close()
    started = time.monotonic()
    _wait_committed(broker_address, group, {(topic, 0): 5}, timeout_s=30)
    assert time.monotonic() - started < 15


@pytest.mark.integration  # starts its own tansu broker
def test_bench_stream_throughput_phase_reports_medians_of_alternating_rounds(tmp_path: Path) -> None:
    """`python -m app bench stream` end to end on a small run: every round processes every message."""
    cmd = [sys.executable, "-m", "app", "bench", "stream", "--events", "3000", "--rounds", "2", "--skip-scale",
           "--skip-latency"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    rounds = report["rounds"]
    assert len(rounds) == 2
    for run in rounds:
        assert run["passthrough"]["messages"] == run["full"]["messages"] == 3000
        assert run["full_vs_passthrough"] == round(
            run["full"]["messages_per_s"] / run["passthrough"]["messages_per_s"], 3
        )
    assert report["full_vs_passthrough"] in {run["full_vs_passthrough"] for run in rounds}
    assert report["full"]["scored_bids_per_s"] == round(median(r["full"]["scored_bids_per_s"] for r in rounds))
    assert report["passthrough_repartitioned_by_bidder"]["messages"] == 3000
    assert "scale" not in report and "latency" not in report
