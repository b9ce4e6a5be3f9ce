"""The stream benchmark's own machinery: CPU accounting by thread role, the two-workers ceiling, and the
benchmark end to end on a small run (against the real broker)."""

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

from app.benchmarks.cpu import ROLES, CpuSampler
from app.benchmarks.stream import _ceiling

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
        assert run["passthrough"]["messages"] == run["full"]["messages"] == run["one_stage"]["messages"] == 3000
        # the bidder stage's records travel in batches: a message a partition and pass, far fewer than bids
        assert 0 < run["full"]["internal_messages"] < run["full"]["bids"] and run["one_stage"]["internal_messages"] == 0
        assert run["two_stage_vs_one_stage"] == round(
            run["full"]["scored_bids_per_s"] / run["one_stage"]["scored_bids_per_s"], 3
        )
        assert run["full_vs_passthrough"] == round(
            run["full"]["messages_per_s"] / run["passthrough"]["messages_per_s"], 3
        )
    assert report["full_vs_passthrough"] in {run["full_vs_passthrough"] for run in rounds}
    assert report["two_stage_vs_one_stage"] in {run["two_stage_vs_one_stage"] for run in rounds}
    assert report["full"]["scored_bids_per_s"] == round(median(r["full"]["scored_bids_per_s"] for r in rounds))
    assert report["passthrough_repartitioned_by_bidder"]["messages"] == 3000
    assert "scale" not in report and "latency" not in report


@pytest.mark.integration
def test_the_real_worker_detects_what_in_process_scoring_detects() -> None:
    """`bench stream --quality --worker`: the same generated events through a real two-stage worker (bidder
    stage fed out of time order, from every auction partition) and in process, in time order. Before velocity
    counted only earlier bids the worker flagged ~15 % more bidders than in process (precision 0.82 vs 0.94)."""
    from app.benchmarks.stream_quality import evaluate
    from app.benchmarks.stream_quality_worker import evaluate_worker

    real = evaluate_worker(101, 40_000, 4).report()
    in_process = evaluate(101, 40_000, 4).report()
    assert real["bids"] == in_process["bids"] > 0 and real["fraudsters"] == in_process["fraudsters"] > 0
    assert abs(real["flagged_bidders"] - in_process["flagged_bidders"]) <= 0.05 * in_process["flagged_bidders"]
    assert abs(real["precision"] - in_process["precision"]) <= 0.04, (real, in_process)
    assert abs(real["recall"] - in_process["recall"]) <= 0.04, (real, in_process)
