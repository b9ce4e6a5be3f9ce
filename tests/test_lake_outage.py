"""S3 dies while the batch writes gold: one line naming the endpoint and what was being written, for a
manual `batch` and for a scheduled run (retried, recorded when the lake is back); the next run succeeds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from bronze_rows import DAY, marketplace, write_bronze
from moto.server import ThreadedMotoServer

import pipelines.batch.gold
from app.broker import free_port
from app.cli import main
from app.history import read_runs
from app.jobs import run_job
from app.registry import jobs_for
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings


@pytest.fixture
def own_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, ThreadedMotoServer]]:
    """A moto server of our own (this test stops it) with a seeded lake; the AUCTION_/AWS_ env points at it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="t", aws_secret_access_key="t",
                 region_name="us-east-1").create_bucket(Bucket="lake")  # fmt: skip
    env = {"AUCTION_LAKE_URL": "s3://lake/data", "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "t",
           "AWS_SECRET_ACCESS_KEY": "t", "AWS_REGION": "us-east-1", "AUCTION_JOB_RETRY_BACKOFF_S": "0",
           "AWS_MAX_ATTEMPTS": "1"}  # botocore: fail fast once the server is gone  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    lake = Lake.from_settings(settings)
    for topic, rows in marketplace().items():
        write_bronze(lake, topic, DAY, rows)
    try:
        yield settings, server
    finally:
        server.stop()


def _dies_while_writing_gold(monkeypatch: pytest.MonkeyPatch, server: ThreadedMotoServer) -> list[int]:
    """S3 goes away once gold is computed, just before it is written (the first time only)."""
    real, calls = pipelines.batch.gold.build_gold, []

    def build_then_die(con: Any, *args: Any) -> Any:
        tables = real(con, *args)
        calls.append(1)
        if len(calls) == 1:
            server.stop()
        return tables

    monkeypatch.setattr(pipelines.batch.gold, "build_gold", build_then_die)
    return calls


def test_manual_batch_when_s3_dies_is_one_line(own_s3: tuple[Settings, ThreadedMotoServer],
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    settings, server = own_s3
    _dies_while_writing_gold(monkeypatch, server)
    with pytest.raises(SystemExit) as exited:
        main(["batch", "--no-checks"])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert settings.aws_endpoint_url in err and "gold/" in err and "not recorded in ops.job_runs either" in err


def test_scheduled_batch_when_s3_dies_is_retried_and_recorded(own_s3: tuple[Settings, ThreadedMotoServer],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    settings, server = own_s3
    calls = _dies_while_writing_gold(monkeypatch, server)
    refresh = next(job for job in jobs_for(settings) if job.name == "refresh")
    lines: list[str] = []
    port = int(settings.aws_endpoint_url.rsplit(":", 1)[1])

    def back_on_retry(timeout: float | None = None) -> bool:  # the S3 server comes back before the retry
        restarted = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        restarted.start()
        monkeypatch.setattr(server, "stop", restarted.stop)
        return False

    stop = type("Stop", (), {"wait": staticmethod(back_on_retry), "is_set": lambda self: False})()
    run = run_job(Lake.from_settings(settings), refresh, "interval", dt.datetime.now(dt.UTC), lines.append,
                  stop=stop)  # type: ignore[arg-type]  # fmt: skip
    failure = next(line for line in lines if line.startswith("job refresh failed (attempt 1)"))
    assert settings.aws_endpoint_url in failure and "gold/" in failure and "\n" not in failure
    assert run.status == "success" and run.attempt == 2 and len(calls) == 2
    # the failed attempt could not be recorded (S3 was down); the retry was
    assert [(r["attempt"], r["status"]) for r in read_runs(Lake.from_settings(settings), "refresh")] == [(2, "success")]
