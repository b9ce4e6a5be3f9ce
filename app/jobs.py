"""Jobs: named units of work the scheduler (and `batch`) runs, every attempt recorded in ``ops.job_runs``.

A :class:`Job` is a name, a trigger (every N seconds, or daily at HH:MM UTC) and a function of the run's
logical time returning an :class:`Outcome` (rows in/out, a JSON-able detail). :func:`run_job` calls it
with bounded retries and exponential backoff (APScheduler 3 has none), recording each attempt; a failure
that outlives its retries is recorded and reported, never raised into the scheduler.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.history import JobRun, record
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    """What a successful run did."""

    rows_in: int = 0
    rows_out: int = 0
    detail: dict[str, Any] | None = None
    line: str = ""
    """One line for the console (empty: a default)."""


@dataclass(frozen=True)
class Job:
    """A scheduled job: ``func(logical_time)`` every ``every_s`` seconds, or daily at ``at`` (HH:MM UTC)."""

    name: str
    func: Callable[[dt.datetime], Outcome]
    every_s: float | None = None
    at: str | None = None
    retries: int = 3
    backoff_s: float = 10.0
    then: tuple[Job, ...] = ()
    """Jobs the scheduler runs (recorded on their own, trigger ``after``) each time this one succeeds."""

    @property
    def trigger(self) -> str:
        return "cron" if self.at is not None else "interval"


@dataclass
class JobState:
    """The last finished run of each job, for the status file."""

    last: dict[str, JobRun] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, run: JobRun) -> None:
        with self.lock:
            self.last[run.job] = run


def error_line(exc: BaseException) -> str:
    """One line for an exception: a UserError's message, else its type and first line."""
    if isinstance(exc, UserError):
        return str(exc).splitlines()[0] if str(exc) else "failed"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_job(
    lake: Lake,
    job: Job,
    trigger: str,
    logical_time: dt.datetime,
    echo: Echo,
    scheduled_time: dt.datetime | None = None,
    stop: threading.Event | None = None,
    state: JobState | None = None,
    clock: Callable[[], dt.datetime] = now,
    announce: bool = True,
) -> JobRun:
    """Run ``job`` (attempt 1, then up to ``job.retries`` retries after ``backoff_s * 2**n`` seconds).

    Every attempt is recorded; returns the last. ``stop`` cuts a backoff wait short (no further retry).
    ``announce`` echoes each failure (a manual run reports its own error instead).
    """
    stop = stop or threading.Event()
    attempt = 1
    while True:
        run = _attempt(job, trigger if attempt == 1 else "retry", attempt, logical_time, scheduled_time, clock)
        _record(lake, run, echo if announce else lambda _line: None)
        if state is not None:
            state.note(run)
        if run.status == "success":
            return run
        last = attempt > job.retries
        wait = job.backoff_s * 2 ** (attempt - 1)
        if announce:
            echo(f"job {job.name} failed (attempt {attempt}): {run.error}" + ("" if last else f"; retry in {wait:g} s"))
        if last or stop.wait(wait):
            return run
        attempt += 1


def _attempt(
    job: Job,
    trigger: str,
    attempt: int,
    logical_time: dt.datetime,
    scheduled_time: dt.datetime | None,
    clock: Callable[[], dt.datetime],
) -> JobRun:
    started = clock()
    try:
        outcome = job.func(logical_time)
    except Exception as exc:  # a job's failure is recorded, never raised into the scheduler
        return JobRun(job.name, trigger, started, clock(), "failed", attempt, error=error_line(exc),
                      scheduled_time=scheduled_time)  # fmt: skip
    return JobRun(
        job.name, trigger, started, clock(), "success", attempt, outcome.rows_in, outcome.rows_out,
        detail=outcome.detail, scheduled_time=scheduled_time,
    )  # fmt: skip


def _record(lake: Lake, run: JobRun, echo: Echo) -> None:
    try:
        record(lake, run)
    except Exception as exc:  # the lake may be what failed: say so, keep running
        run.unrecorded = error_line(exc)
        echo(f"warning: job {run.job} run {run.run_id} not recorded in ops.job_runs: {run.unrecorded}")


def run_manual(lake: Lake, name: str, func: Callable[[dt.datetime], Outcome], echo: Echo) -> JobRun:
    """Run ``func`` once as job ``name`` (trigger ``manual``, no retry), recorded; raise its error as one line."""
    run = run_job(lake, Job(name, func, retries=0), "manual", now(), echo, announce=False)
    if run.status != "success":
        note = "; not recorded in ops.job_runs either" if run.unrecorded else ""
        raise UserError((run.error or f"{name} failed") + note)
    if run.unrecorded:
        echo(f"warning: {name} not recorded in ops.job_runs: {run.unrecorded}")
    return run
