"""Catch-up: the daily job once per past day with bronze and no successful daily run, oldest first; idempotent."""

from __future__ import annotations

import datetime as dt

from bronze_rows import DAY, marketplace, write_bronze

from app.catchup import catch_up, due_days, fire_time
from app.history import JobRun, read_runs, record
from app.registry import jobs_for
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings


def test_catch_up_runs_each_missing_day_once_oldest_first(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    days = [DAY + dt.timedelta(days=n) for n in range(3)]
    for day in days:
        for topic, rows in marketplace().items():
            write_bronze(lake, topic, day, rows)
    daily = next(job for job in jobs_for(settings) if job.name == "daily")
    # the middle day already has a successful daily run; the first one only a failed one
    t = fire_time(daily, days[1])
    record(lake, JobRun("daily", "cron", t, t, "success", detail={"days": [days[1].isoformat()]}))
    t = fire_time(daily, days[0])
    record(lake, JobRun("daily", "cron", t, t, "failed", error="S3 away"))
    # a day whose daily run is not due yet is not caught up
    assert due_days(lake, daily, fire_time(daily, days[2]) - dt.timedelta(minutes=1)) == [days[0]]
    lines: list[str] = []
    assert catch_up(lake, daily, lines.append) == [days[0], days[2]]
    runs = [r for r in read_runs(lake, "daily") if r["trigger"] == "catchup"]
    assert [(r["detail"]["days"], r["status"]) for r in runs] == [
        ([days[0].isoformat()], "success"), ([days[2].isoformat()], "success"),
    ]  # fmt: skip
    assert runs[0]["scheduled_time"] == fire_time(daily, days[0]) and runs[0]["rows_in"] > 0
    assert lines[0].startswith("catch-up: daily batch for 2 day(s)")
    # idempotent: a second start runs nothing
    assert catch_up(lake, daily, lines.append) == []
    assert len(read_runs(lake, "daily")) == 4


def test_the_scheduler_catches_up_at_start(settings: Settings) -> None:
    import time

    from app.scheduler import start_scheduler

    lake = Lake.from_settings(settings)
    for topic, rows in marketplace().items():
        write_bronze(lake, topic, DAY, rows)
    daily = next(job for job in jobs_for(settings) if job.name == "daily")
    scheduler = start_scheduler(settings, [daily], lambda _line: None)
    deadline = time.monotonic() + 30
    while not read_runs(lake, "daily") and time.monotonic() < deadline:
        time.sleep(0.1)
    scheduler.shutdown()
    assert [(r["trigger"], r["status"], r["detail"]["days"]) for r in read_runs(lake, "daily")] == [
        ("catchup", "success", [DAY.isoformat()])
    ]
    assert scheduler.job_status()[0]["last_status"] == "success"
