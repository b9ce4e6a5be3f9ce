"""Jobs and the scheduler: every attempt recorded in ops.job_runs, retries with backoff, no overlap,
missed runs coalesced, manual `batch` runs recorded."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from bronze_rows import DAY, marketplace, write_bronze

from app.cli import main
from app.history import SCHEMA, read_runs
from app.jobs import Job, Outcome, run_job
from app.scheduler import last_fire, start_scheduler
from pipelines.infra.duck import connect
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings

T = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_a_failing_job_is_retried_with_backoff_then_recorded_as_failed(settings: Settings) -> None:
    lake, calls, waits = Lake.from_settings(settings), [], []

    def flaky(_when: dt.datetime) -> Outcome:
        calls.append(time.monotonic())
        raise OSError("disk full\nsecond line")

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            return False

    lines: list[str] = []
    run = run_job(lake, Job("flaky", flaky, every_s=60, retries=2, backoff_s=0.5), "interval", T, lines.append,
                  scheduled_time=T, stop=Stop())  # fmt: skip
    assert run.status == "failed" and len(calls) == 3 and waits == [0.5, 1.0]  # exponential backoff, bounded
    rows = read_runs(lake, "flaky")
    assert [(r["attempt"], r["trigger"], r["status"]) for r in rows] == [
        (1, "interval", "failed"), (2, "retry", "failed"), (3, "retry", "failed"),
    ]  # fmt: skip
    assert all(r["error"] == "OSError: disk full" and r["scheduled_time"] == T for r in rows)
    assert "retry in 0.5 s" in lines[0] and "retry" not in lines[-1].split(":", 1)[0]
    # queryable in the SQL shell's views
    con = connect(settings, read_only_lake=True)
    assert con.execute("select count(*), max(attempt) from ops.job_runs where status = 'failed'").fetchone() == (3, 3)


def test_a_job_that_recovers_is_recorded_once_failed_then_success(settings: Settings) -> None:
    lake, calls = Lake.from_settings(settings), []

    def second_time_lucky(_when: dt.datetime) -> Outcome:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("S3 away")
        return Outcome(10, 7, {"days": ["2026-11-30"]})

    run = run_job(lake, Job("j", second_time_lucky, retries=3, backoff_s=0), "cron", T, print)
    assert run.status == "success" and (run.rows_in, run.rows_out, run.attempt) == (10, 7, 2)
    rows = read_runs(lake, "j")
    assert [r["status"] for r in rows] == ["failed", "success"] and rows[1]["detail"] == {"days": ["2026-11-30"]}


def test_ops_job_runs_exists_empty_with_the_contract_columns(settings: Settings) -> None:
    con = connect(settings, read_only_lake=True)
    empty = con.execute("describe ops.job_runs").fetchall()
    assert con.execute("select count(*) from ops.job_runs").fetchone() == (0,)
    run_job(Lake.from_settings(settings), Job("ok", lambda _w: Outcome(1, 1)), "manual", T, print)
    full = connect(settings, read_only_lake=True).execute("describe ops.job_runs").fetchall()
    assert [(c[0], c[1]) for c in empty] == [(c[0], c[1]) for c in full]
    assert [c[0] for c in full] == SCHEMA.names


def test_last_fire_of_interval_and_cron_jobs() -> None:
    every = Job("r", lambda _w: Outcome(), every_s=60)
    assert last_fire(every, T, T + dt.timedelta(seconds=150)) == T + dt.timedelta(seconds=120)
    daily = Job("d", lambda _w: Outcome(), at="00:15")
    assert last_fire(daily, T, T) == dt.datetime(2026, 12, 1, 0, 15, tzinfo=dt.UTC)
    assert last_fire(daily, T, dt.datetime(2026, 12, 1, 0, 10, tzinfo=dt.UTC)).day == 30


def test_overlapping_triggers_give_one_run_at_a_time(settings: Settings) -> None:
    running, overlaps, runs = [0], [0], []

    def slow(_when: dt.datetime) -> Outcome:
        running[0] += 1
        overlaps[0] = max(overlaps[0], running[0])
        time.sleep(0.8)
        running[0] -= 1
        runs.append(1)
        return Outcome()

    scheduler = start_scheduler(settings, [Job("slow", slow, every_s=0.1)], lambda _l: None, catch_up=False)
    time.sleep(2.0)  # ~20 triggers
    scheduler.shutdown()
    assert overlaps[0] == 1 and 1 <= len(runs) <= 3
    assert len(read_runs(Lake.from_settings(settings), "slow")) == len(runs)


def test_missed_runs_are_coalesced_into_one(settings: Settings) -> None:
    runs: list[float] = []
    scheduler = start_scheduler(settings, [Job("tick", lambda _w: runs.append(1) or Outcome(), every_s=1.0)],
                                lambda _l: None, catch_up=False)  # fmt: skip
    scheduler.aps.pause()  # the process "sleeps" through three fire times
    time.sleep(3.4)
    assert runs == []
    scheduler.aps.resume()
    deadline = time.monotonic() + 5
    while not runs and time.monotonic() < deadline:
        time.sleep(0.02)
    scheduler.shutdown()
    assert len(runs) == 1
    assert [job["id"] for job in scheduler.job_status()] == ["tick"]


@pytest.mark.parametrize("fails", [False, True])
def test_manual_batch_is_recorded(settings: Settings, lake_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], fails: bool) -> None:  # fmt: skip
    lake = Lake.from_settings(settings)
    for topic, rows in marketplace().items():
        write_bronze(lake, topic, DAY, rows)
    monkeypatch.setenv("AUCTION_LAKE_URL", str(lake_dir))
    if fails:  # a bronze file that is not Parquet: the batch fails with one line, and the failure is recorded
        (lake_dir / "bronze" / "bids" / f"date={DAY}" / "zz-0-000000000009-000000000009.parquet").write_bytes(b"no")
    with pytest.raises(SystemExit) as exited:
        main(["batch", "--date", DAY.isoformat(), "--no-checks"])
        raise SystemExit(0)
    rows = read_runs(lake, "batch")
    assert [(r["trigger"], r["attempt"]) for r in rows] == [("manual", 1)]
    if fails:
        err = capsys.readouterr().err
        assert exited.value.code == 1 and err.startswith("error: ") and err.count("\n") == 1
        assert rows[0]["status"] == "failed" and rows[0]["error"] in err
    else:
        assert exited.value.code == 0 and rows[0]["status"] == "success"
        assert rows[0]["rows_in"] > 0 and rows[0]["rows_out"] > 0 and rows[0]["detail"]["days"] == [DAY.isoformat()]
