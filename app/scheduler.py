"""APScheduler in the app process: the registry's jobs, one at a time, recorded, retried, caught up.

* One worker thread runs every job: jobs that read and write the same lake tables never overlap (a
  refresh and the daily batch would rewrite the same silver), and a job never overlaps itself
  (``max_instances=1``). Runs missed while the process was busy or asleep are coalesced into one
  (``coalesce``) if they are at most ``job_misfire_grace_s`` late.
* Catch-up (like Airflow's): at start, the daily job runs once for each past day that has bronze but no
  successful daily run in ``ops.job_runs``, oldest first, before the first scheduled run.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass, field
from typing import Any

from app.jobs import Echo, Job, JobState, now, run_job
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings


@dataclass
class Scheduler:
    """A started APScheduler with the jobs it runs and their last results."""

    aps: Any
    jobs: dict[str, Job]
    state: JobState
    stop: threading.Event = field(default_factory=threading.Event)

    def job_status(self) -> list[dict[str, Any]]:
        """Per job: id, next run, last run and its status (the status file's ``jobs``)."""
        out = []
        for name in self.jobs:
            aps_job = self.aps.get_job(name)
            last = self.state.last.get(name)
            nxt = getattr(aps_job, "next_run_time", None)
            out.append(
                {
                    "id": name,
                    "next_run": nxt.astimezone(dt.UTC).isoformat() if nxt else None,
                    "last_run": last.end_time.isoformat() if last else None,
                    "last_status": last.status if last else None,
                }
            )
        return out

    def shutdown(self) -> None:
        """Stop: a job waiting to retry gives up, a running one is waited for."""
        self.stop.set()
        self.aps.shutdown(wait=True)


def last_fire(job: Job, start: dt.datetime, when: dt.datetime) -> dt.datetime:
    """The fire time of ``job`` at or before ``when`` (interval jobs count from ``start``)."""
    if job.at is not None:
        hour, minute = (int(part) for part in job.at.split(":"))
        today = when.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return today if today <= when else today - dt.timedelta(days=1)
    assert job.every_s
    periods = math.floor((when - start).total_seconds() / job.every_s + 1e-6)
    return start + dt.timedelta(seconds=max(periods, 0) * job.every_s)


def start_scheduler(
    settings: Settings, jobs: list[Job], echo: Echo, catch_up: bool = True, start: dt.datetime | None = None
) -> Scheduler:
    """Start the jobs (first interval run one interval after ``start``); queue the catch-up first."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    lake = Lake.from_settings(settings)
    begin = start or now()
    aps = BackgroundScheduler(
        timezone="UTC",
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": int(settings.job_misfire_grace_s)},
    )
    scheduler = Scheduler(aps, {job.name: job for job in jobs}, JobState())

    def fire(job: Job) -> None:
        scheduled = last_fire(job, begin, now())
        run = run_job(lake, job, job.trigger, scheduled, echo, scheduled, scheduler.stop, scheduler.state)
        if run.status == "success":
            echo(f"job {job.name}: ok in {(run.end_time - run.start_time).total_seconds():.1f} s")
            for follow in job.then:  # e.g. publish after each refresh
                after = run_job(lake, follow, "after", scheduled, echo, scheduled, scheduler.stop, scheduler.state)
                if after.status == "success":
                    echo(f"job {follow.name}: ok in {(after.end_time - after.start_time).total_seconds():.1f} s")

    if catch_up and "daily" in scheduler.jobs:
        from app.catchup import catch_up as run_catch_up

        daily = scheduler.jobs["daily"]
        aps.add_job(run_catch_up, "date", run_date=begin, args=[lake, daily, echo, scheduler], id="catchup")
    for job in jobs:
        if job.at is not None:
            hour, minute = job.at.split(":")
            trigger: Any = CronTrigger(hour=int(hour), minute=int(minute), timezone="UTC")
        else:
            first = begin + dt.timedelta(seconds=job.every_s or 0)
            trigger = IntervalTrigger(seconds=job.every_s, start_date=first, timezone="UTC")
        aps.add_job(fire, trigger, args=[job], id=job.name, name=job.name)
    aps.start()
    return scheduler
