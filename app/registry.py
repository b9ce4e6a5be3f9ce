"""The jobs `run` schedules. Adding one is one line in :func:`jobs_for`: a name, a trigger, a function.

Each function takes the run's logical time (the scheduled fire time; for the daily job, the morning after
the day it builds) and returns an :class:`app.jobs.Outcome`; it raises (a one-line UserError at best) to
fail, and :func:`app.jobs.run_job` retries and records it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from app.batch.report import BatchResult
from app.jobs import Job, Outcome
from pipelines.infra.settings import Settings


def jobs_for(settings: Settings, address: str | None = None, refresh_every_s: float | None = None) -> list[Job]:
    """The scheduled jobs of `run` on the broker at ``address`` (a job whose interval is 0 is left out)."""
    every = settings.refresh_every_s if refresh_every_s is None else refresh_every_s
    retries, backoff = settings.job_retries, settings.job_retry_backoff_s
    jobs = [
        Job("refresh", refresh(settings), every_s=every, retries=retries, backoff_s=backoff),
        Job("daily", daily(settings), at=settings.daily_at, retries=retries, backoff_s=backoff),
        Job("compaction", compaction(settings, address), every_s=settings.compaction_every_s, retries=retries,
            backoff_s=backoff),
    ]  # fmt: skip
    if settings.database_url.get_secret_value():
        jobs = [*database_jobs(settings, jobs), Job("extract", extract(settings), every_s=settings.extract_every_s,
                                                   retries=retries, backoff_s=backoff)]  # fmt: skip
    return [job for job in jobs if job.at is not None or job.every_s]


def database_jobs(settings: Settings, jobs: list[Job]) -> list[Job]:
    """With a database: publish gold after each scheduled refresh (its own recorded run, retried alone)."""
    import dataclasses

    from app.db_commands import publish_job

    publish = Job(
        "publish", publish_job(settings), retries=settings.job_retries, backoff_s=settings.job_retry_backoff_s
    )
    return [dataclasses.replace(j, then=(*j.then, publish)) if j.name == "refresh" else j for j in jobs]


def extract(settings: Settings) -> Callable[[dt.datetime], Outcome]:
    """Users and auctions changed in PostgreSQL since the watermark, into bronze (pipelines/ingest/extract.py)."""
    from app.db_commands import extract_job

    return extract_job(settings)


def batch_outcome(result: BatchResult) -> Outcome:
    """Rows in (bronze rows read) and out (silver rows written), the days and gold row counts."""
    rows_in = sum(t.bronze for t in result.tables)
    rows_out = sum(t.silver for t in result.tables)
    failed = sorted(name for name, n in result.checks.items() if n)
    detail = {"days": [d.isoformat() for d in result.days], "gold": result.gold, "checks_failed": failed}
    gold = " ".join(f"{k}={v}" for k, v in sorted(result.gold.items()))
    return Outcome(rows_in, rows_out, detail, f"{len(result.days)} day(s); gold rows {gold}")


def refresh(settings: Settings) -> Callable[[dt.datetime], Outcome]:
    """Silver for every bronze day, then gold (what `run` kept fresh before it had a scheduler)."""

    def job(_when: dt.datetime) -> Outcome:
        from app.batch import run_batch

        return batch_outcome(run_batch(settings))

    return job


def daily_day(when: dt.datetime) -> dt.date:
    """The day a daily run at ``when`` builds: the UTC day before."""
    return when.astimezone(dt.UTC).date() - dt.timedelta(days=1)


def daily(settings: Settings) -> Callable[[dt.datetime], Outcome]:
    """Silver for the previous UTC day, then gold."""

    def job(when: dt.datetime) -> Outcome:
        from app.batch import run_batch

        return batch_outcome(run_batch(settings, [daily_day(when)]))

    return job


def compaction(settings: Settings, address: str | None) -> Callable[[dt.datetime], Outcome]:
    """Merge small final bronze files (pipelines/compact.py); the broker at ``address`` says what is final
    (None: no broker can replay anything, every file is final)."""

    def job(_when: dt.datetime) -> Outcome:
        from pipelines.batch.compact import compact
        from pipelines.infra.topics import INPUT_TOPICS, broker_run_id, committed_offsets

        runs, committed = None, {}
        if address is not None:
            timeout = settings.broker_timeout_s
            runs = {topic: broker_run_id(address, topic, timeout) for topic in INPUT_TOPICS}
            committed = committed_offsets(address, settings.consumer_group, timeout)
        result = compact(settings, runs, committed)
        detail = {"files_in": result.files_in, "files_out": result.files_out, "quarantined": result.quarantined}
        return Outcome(result.rows, result.rows, detail, result.line())

    return job
