"""Fixture ladder: pure objects -> real services started on loopback (tansu broker, moto S3, PostgreSQL).

Tests that need a real service are marked ``integration`` automatically by using these fixtures.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hyp_settings

from app.broker import EmbeddedBroker
from pipelines.infra.settings import Settings

hyp_settings.register_profile("fast", max_examples=25, deadline=None)
hyp_settings.register_profile("ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

_SERVICE_FIXTURES = {
    "broker", "broker_address", "own_broker", "s3_server", "s3_settings", "pg_dsn", "pg_url", "demo_lake",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Streamlit's AppTest installs its page script as ``sys.modules["__main__"]`` and leaves it there; a later
    test whose code spawns processes (multiprocessing's spawn re-runs ``__main__`` in the child: `bench
    generate`'s process pool) then ran that script and broke the pool. Put the real one back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's AUCTION_*/AWS_* environment or .env file."""
    for key in list(os.environ):
        if key.startswith(("AUCTION_", "AWS_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real tansu broker (the embedded broker binary) on a free loopback port, for the whole session."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


@pytest.fixture
def broker_address(broker: EmbeddedBroker) -> str:
    return broker.address


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A tansu broker for one test alone (the stream worker uses fixed topic names), killed at the end.

    SIGKILL rather than SIGTERM: its in-memory data is thrown away anyway, and tansu takes ~5 s to stop.
    """
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log").start()
    try:
        yield broker
    finally:
        if broker.process is not None:
            broker.process.kill()
            broker.process.wait(10)
        broker.stop()


@pytest.fixture
def unique_name() -> str:
    """A fresh suffix for topic or group names, so tests sharing the broker never collide."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    path.mkdir()
    return path


@pytest.fixture
def settings(tmp_path: Path, lake_dir: Path) -> Settings:
    """Settings for a test: local lake in tmp, state in tmp, embedded broker unless overridden."""
    return Settings(lake_url=str(lake_dir), state_dir=tmp_path / "state", runtime_dir=tmp_path / "run", partitions=2)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's ThreadedMotoServer on a free loopback port: a real S3 HTTP API. Yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    from app.broker import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3_server: str, tmp_path: Path, unique_name: str) -> Settings:
    """Settings whose lake is a fresh bucket on the moto server."""
    import boto3

    bucket = f"lake-{unique_name}"
    boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).create_bucket(Bucket=bucket)
    return Settings(
        lake_url=f"s3://{bucket}/lake",
        aws_endpoint_url=s3_server,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        aws_region="us-east-1",
        state_dir=tmp_path / "state",
        runtime_dir=tmp_path / "run",
        partitions=2,
    )


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The real PostgreSQL server on 127.0.0.1:5432 (started by .ci/run when down)."""
    import psycopg

    dsn = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute("select 1")
    return dsn


@pytest.fixture
def pg_url(pg_dsn: str) -> Iterator[str]:
    """DSN of a fresh, empty database on the real server for one test, dropped afterwards."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"auction_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(pg_dsn, dbname=name)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake filled by `python -m app demo` (embedded broker, stream worker, silver, gold) and a manual
    `batch`, built once per session (tests/dashboard_lakes.py). Tests must not change it: copy it first."""
    from dashboard_lakes import build_demo_lake

    return build_demo_lake(tmp_path_factory.mktemp("demo"))
