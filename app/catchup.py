"""Catch-up: the daily job once for each past day that has bronze but no successful daily run, oldest first.

Like Airflow's catchup: a day counts as due once its daily run's time (the next morning at
``daily_at``) has passed. A day is done when a successful ``daily`` run in ``ops.job_runs`` lists it in
its detail's ``days`` -- so a second start runs nothing. `batch --from/--to` stays the manual backfill.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.history import read_runs
from app.jobs import Echo, Job, now, run_job
from pipelines.infra.lake import Lake


def done_days(lake: Lake) -> set[dt.date]:
    """Days covered by a successful daily run."""
    days: set[dt.date] = set()
    for row in read_runs(lake, "daily"):
        if row["status"] == "success" and row["detail"]:
            days.update(dt.date.fromisoformat(day) for day in row["detail"].get("days", []))
    return days


def due_days(lake: Lake, daily: Job, when: dt.datetime) -> list[dt.date]:
    """Past days with bronze whose daily run is due at ``when`` and has not succeeded, oldest first."""
    from app.batch import bronze_days

    done = done_days(lake)
    return [day for day in bronze_days(lake) if day not in done and fire_time(daily, day) <= when]


def fire_time(daily: Job, day: dt.date) -> dt.datetime:
    """When the daily run that builds ``day`` is scheduled: the next day at ``daily.at`` (UTC)."""
    hour, minute = (int(part) for part in (daily.at or "00:00").split(":"))
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(hour, minute), tzinfo=dt.UTC)


def catch_up(lake: Lake, daily: Job, echo: Echo, scheduler: Any = None) -> list[dt.date]:
    """Run the daily job for every due day (trigger ``catchup``); returns the days run."""
    lake.fs.invalidate_cache()
    days = due_days(lake, daily, now())
    if days:
        echo(f"catch-up: daily batch for {len(days)} day(s): {days[0]} .. {days[-1]}")
    stop = getattr(scheduler, "stop", None)
    state = getattr(scheduler, "state", None)
    for day in days:
        if stop is not None and stop.is_set():
            break
        when = fire_time(daily, day)
        run_job(lake, daily, "catchup", when, echo, when, stop, state)
    return days
