"""Supervision: a worker that keeps failing right after its start is restarted with backoff, each exit is
recorded, and after worker_max_restarts quick failures `run` gets one line naming it."""

from __future__ import annotations

import time

import pytest

from app.broker import free_port
from app.history import read_runs
from app.supervise import WorkerPool
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings


def test_a_worker_that_keeps_failing_is_given_up_with_one_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUCTION_BROKER_TIMEOUT_S", "0.5")  # the worker's broker is not there: it exits fast
    monkeypatch.setenv("AUCTION_LAKE_URL", settings.lake_url)
    settings.runtime_dir.mkdir(parents=True)
    lines: list[str] = []
    strict = settings.model_copy(update={"worker_max_restarts": 1})
    pool = WorkerPool(strict, f"127.0.0.1:{free_port()}", 1, lines.append)
    with pytest.raises(UserError) as info, pool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pool.check()
            time.sleep(0.1)
    message = str(info.value)
    assert "\n" not in message and message.startswith("stream worker 0 keeps failing: it exited 2 times in a row")
    assert str(pool.workers[0].log) in message and pool.workers[0].restarts == 1
    assert any("exited with code 1: restart in 1 s" in line for line in lines)
    runs = read_runs(Lake.from_settings(settings), "worker")
    assert [(r["attempt"], r["status"]) for r in runs] == [(1, "failed"), (2, "failed")]
    assert not pool.workers[0].alive()
