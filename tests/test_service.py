"""`python -m app run` as one supervised service: status healthy while it runs, a SIGKILLed worker restarted
(recorded, bronze still exactly once), SIGINT -> exit 0 and nothing left running, SIGKILL -> nothing left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from app.history import read_runs
from pipelines.infra.lake import Lake, live_files
from pipelines.infra.settings import Settings


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _gone(pids: list[int], timeout_s: float = 15) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(_alive(p) for p in pids)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUCTION_", "AWS_"))},
        "AUCTION_LAKE_URL": str(tmp_path / "lake"),
        "AUCTION_STATE_DIR": str(tmp_path / "state"),
        "AUCTION_RUNTIME_DIR": str(tmp_path / "run"),
        "AUCTION_PARTITIONS": "2",
        "AUCTION_STATUS_EVERY_S": "1",
        "AUCTION_REFRESH_EVERY_S": "0",
        "AUCTION_COMPACTION_EVERY_S": "3",
        "AUCTION_DASHBOARD_PORT": "0",  # a free port: run serves the dashboards
    }
    return env


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--rate", "800", *args], cwd=tmp_path, env=_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        output.append(line)
        if line.startswith("running:"):
            return proc, output
        assert time.monotonic() < deadline, "".join(output)
    raise AssertionError("".join(output))


def _status_file(tmp_path: Path, ready: Any = lambda s: True, timeout_s: float = 60) -> dict[str, Any]:
    path, deadline = tmp_path / "run" / "status.json", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            payload: dict[str, Any] = json.loads(path.read_text())
            if ready(payload):
                return payload
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"status file never ready: {path.read_text() if path.exists() else 'missing'}")


def _status_cmd(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "status", "--json"], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.integration
def test_run_restarts_a_killed_worker_reports_health_and_stops_cleanly(tmp_path: Path) -> None:
    proc, output = _start(tmp_path)
    try:
        first = _status_file(tmp_path, lambda s: s["rates"]["scored_per_s"] > 0)
        healthy = _status_cmd(tmp_path)
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        report = json.loads(healthy.stdout)
        assert report["healthy"] and report["broker"]["reachable"] and report["lake"]["newest_bronze"]
        assert set(report["run"]["lag"]) >= {"bids/0", "bids/1"} and report["run"]["dashboard_url"].startswith(
            "http://127.0.0.1:"
        )
        assert {j["id"] for j in report["run"]["jobs"]} == {"daily", "compaction"}
        victim = first["workers"][0]["pid"]
        os.kill(victim, signal.SIGKILL)
        restarted = _status_file(tmp_path, lambda s: s["workers"][0]["restarts"] == 1 and s["workers"][0]["alive"])
        successor = restarted["workers"][0]["pid"]
        assert successor != victim
        _status_file(tmp_path, lambda s: s["rates"]["scored_per_s"] > 0)  # the new worker scores again
        tansu = json.loads((tmp_path / "run" / "embedded-broker.json").read_text())["tansu_pid"]
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=180)
    text = "".join(output) + rest
    assert proc.returncode == 0, text
    assert "exited with code -9: restart in 1 s" in text and "warning: not drained" not in text
    assert _gone([victim, successor, tansu]), "a process of the run outlived it"
    produced = int(text.split("generator produced", 1)[1].split("bids=", 1)[1].split()[0])
    lake = Lake.from_settings(Settings(lake_url=str(tmp_path / "lake")))
    files = live_files(lake.list_files("bronze/bids"))
    bids = pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
    # exactly once across the worker's restart and the compactions that ran meanwhile
    assert bids.height == bids["bid_id"].n_unique() == produced
    compactions = [r for r in read_runs(lake, "compaction") if r["status"] == "success"]
    assert compactions and sum(r["detail"]["files_in"] for r in compactions) > 0
    restarts = read_runs(lake, "worker")
    assert [(r["status"], r["trigger"]) for r in restarts] == [("failed", "retry")] and "-9" in restarts[0]["error"]
    assert [r["trigger"] for r in read_runs(lake, "refresh")] == ["manual"]  # the final batch
    # nothing runs any more: status says so and exits 1
    unhealthy = _status_cmd(tmp_path)
    assert unhealthy.returncode == 1 and "no `python -m app run` is running" in unhealthy.stdout


@pytest.mark.integration
def test_sigkill_of_run_leaves_no_process(tmp_path: Path) -> None:
    proc, _ = _start(tmp_path, "--workers", "2")
    try:
        status = _status_file(tmp_path, lambda s: all(w["alive"] for w in s["workers"]))
        tansu = json.loads((tmp_path / "run" / "embedded-broker.json").read_text())["tansu_pid"]
        pids = [w["pid"] for w in status["workers"]] + [tansu]
        assert all(_alive(p) for p in pids)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert _gone(pids), "workers or the broker outlived a SIGKILLed run"
