"""Supervision of `run`'s stream worker processes: restart a dead one with backoff, give up on a part that
keeps failing, and never outlive `run`.

* Each worker is `python -m app stream` in its own session (Ctrl-C in the terminal reaches `run`, which
  drains first), with ``PR_SET_PDEATHSIG``: if `run` dies, even by SIGKILL, the kernel kills its workers.
  Workers are started from the main thread only: the death signal follows the thread that forked.
* A worker that exits while `run` is not stopping is recorded (``ops.job_runs``: job ``worker``, trigger
  ``retry``, status ``failed``, the exit code) and restarted after ``2**n`` seconds (n = its quick failures
  in a row, at most 30 s). Its state comes back from the changelog; bronze stays exactly once (the new
  worker replays from the committed offsets and rewrites the uncommitted files).
* ``worker_max_restarts`` quick failures in a row (each within a minute of its start) stop `run` with one
  line naming the worker and its log.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.history import JobRun, record
from app.jobs import Echo, error_line
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings

QUICK_S = 60.0
MAX_BACKOFF_S = 30.0
_PR_SET_PDEATHSIG = 1


try:  # loaded now, in the parent: the child (forked from a process with threads) only calls into it
    _LIBC: Any = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # pragma: no cover - not glibc Linux
    _LIBC = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if _LIBC is not None:
        with contextlib.suppress(Exception):
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Worker:
    """One supervised worker slot: its current process and its history."""

    index: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: dt.datetime | None = None
    started: float = 0.0
    restarts: int = 0
    quick_failures: int = 0
    restart_at: float | None = None
    """When a dead worker is due to be started again (monotonic clock)."""
    exits: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"stream-worker-{self.index}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class WorkerPool:
    """``count`` stream workers on ``address``; :meth:`check` (called from the main thread) supervises them."""

    def __init__(self, settings: Settings, address: str, count: int, echo: Echo) -> None:
        self.settings, self.address, self.echo = settings, address, echo
        self.lake = Lake.from_settings(settings)
        self.workers = [Worker(i, Path(settings.runtime_dir) / f"stream-worker-{i}.log") for i in range(count)]
        self.env = {**os.environ, "AUCTION_BROKER_ADDRESS": address}

    def __enter__(self) -> WorkerPool:
        for worker in self.workers:
            self._start(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, worker: Worker) -> None:
        with open(worker.log, "ab") as handle:
            worker.process = subprocess.Popen(
                [sys.executable, "-m", "app", "stream"], stdout=handle, stderr=handle, env=self.env,
                start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        worker.started_at, worker.started, worker.restart_at = dt.datetime.now(dt.UTC), time.monotonic(), None
        self.echo(f"stream worker {worker.index} pid={worker.process.pid} log={worker.log}")

    def check(self) -> None:
        """Restart workers that died (after their backoff); raise a one-line UserError on one that keeps failing."""
        for worker in self.workers:
            process = worker.process
            if worker.restart_at is None and process is not None and process.poll() is not None:
                self._died(worker, process)
            if worker.restart_at is not None and time.monotonic() >= worker.restart_at:
                worker.restarts += 1
                self._start(worker)

    def _died(self, worker: Worker, process: subprocess.Popen[bytes]) -> None:
        code = process.returncode
        lived = time.monotonic() - worker.started
        worker.quick_failures = worker.quick_failures + 1 if lived < QUICK_S else 1
        worker.exits.append(code)
        self._record(worker, process.pid, code, lived)
        if worker.quick_failures > self.settings.worker_max_restarts:
            raise UserError(
                f"stream worker {worker.index} keeps failing: it exited {worker.quick_failures} times in a row "
                f"within {QUICK_S:g} s of starting (last exit code {code}); see {worker.log}"
            )
        wait = min(MAX_BACKOFF_S, 2.0 ** (worker.quick_failures - 1))
        worker.restart_at = time.monotonic() + wait
        self.echo(f"stream worker {worker.index} pid={process.pid} exited with code {code}: restart in {wait:g} s")

    def _record(self, worker: Worker, pid: int, code: int, lived: float) -> None:
        end = dt.datetime.now(dt.UTC)
        run = JobRun(
            "worker", "retry", worker.started_at or end, end, "failed", worker.restarts + 1,
            error=f"{worker.name} pid={pid} exited with code {code} after {lived:.0f} s",
            detail={"worker": worker.name, "pid": pid, "exit_code": code, "log": str(worker.log)},
        )  # fmt: skip
        try:
            record(self.lake, run)
        except Exception as exc:
            self.echo(f"warning: worker exit not recorded in the lake: {error_line(exc)}")

    def status(self) -> list[dict[str, Any]]:
        """The status file's ``workers``."""
        return [
            {
                "name": w.name,
                "pid": w.process.pid if w.process else None,
                "alive": w.alive(),
                "restarts": w.restarts,
                "started_at": w.started_at.isoformat() if w.started_at else None,
            }
            for w in self.workers
        ]

    def stop(self) -> None:
        """SIGINT to every worker (Quix stops cleanly: last checkpoint committed), then wait; kill after 30 s."""
        running = [w.process for w in self.workers if w.process is not None and w.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)
        for process in running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for worker in self.workers:
            worker.restart_at = None
