"""PostgreSQL basics against the real server: migrations, seed-db, bad input, and the scheduled jobs' wiring.

Each test gets a database of its own (fixture ``pg_url``), dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pyarrow.compute as pc
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from pipelines.generate import GeneratorConfig
from pipelines.generate.seed_db import seed
from pipelines.generate.tables import build
from pipelines.infra.errors import UserError
from pipelines.infra.migrate import MIGRATIONS, migrate, migrations
from pipelines.infra.postgres import connect, where
from pipelines.infra.settings import Settings
from tests.pg_lake import pg_settings

ROOT = Path(__file__).resolve().parent.parent


def _tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema IN ('marketplace', 'gold', 'auction_meta')"
    ).fetchall()
    return {r[0] for r in rows}


def test_migrations_on_an_empty_database_then_again_are_a_noop(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        assert _tables(conn) == set()
        first = migrate(conn)
        assert first == [f"{m.version:04d}_{m.name}" for m in migrations()] and len(first) >= 2
        tables = _tables(conn)
        assert {"marketplace.users", "marketplace.auctions", "gold.daily_revenue", "gold.hourly_activity"} <= tables
        recorded = conn.execute("SELECT version, checksum FROM auction_meta.schema_migrations ORDER BY 1").fetchall()
        assert [v for v, _ in recorded] == [m.version for m in migrations()]
        assert migrate(conn) == []
        assert _tables(conn) == tables
        assert conn.execute("SELECT count(*) FROM auction_meta.schema_migrations").fetchone() == (len(first),)
        # updated_at: money is NUMERIC, times timestamptz, and an UPDATE moves updated_at
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'marketplace' AND table_name = 'auctions'"
        ).fetchall())  # fmt: skip
        assert types["start_price"] == "numeric" and types["updated_at"] == "timestamp with time zone"


def test_an_edited_applied_migration_is_refused_and_a_failing_one_leaves_nothing(pg_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_one.sql").write_text("CREATE TABLE one (id int);")
    with psycopg.connect(pg_url) as conn:
        assert migrate(conn, folder) == ["0001_one"]
        (folder / "0001_one.sql").write_text("CREATE TABLE one (id bigint);")
        with pytest.raises(UserError, match=r"0001_one\.sql changed after it was applied"):
            migrate(conn, folder)
        (folder / "0001_one.sql").write_text("CREATE TABLE one (id int);")
        (folder / "0002_two.sql").write_text("CREATE TABLE two (id int); SELECT no_such_function();")
        with pytest.raises(psycopg.errors.UndefinedFunction):
            migrate(conn, folder)
        conn.rollback()
        assert conn.execute("SELECT to_regclass('two')").fetchone() == (None,)
        assert conn.execute("SELECT max(version) FROM auction_meta.schema_migrations").fetchone() == (1,)


def test_seed_db_loads_the_users_and_auctions_the_generator_streams(pg_url: str, tmp_path: Path) -> None:
    settings = pg_settings(tmp_path, tmp_path / "lake", pg_url)
    config = GeneratorConfig(seed=11, events=5_000, partitions=2)
    summary = seed(config, settings, batch_rows=300)  # several COPY chunks per table
    built = build(config)
    users, auctions = built.tables["users"], built.tables["auctions"]
    closed = auctions.filter(pc.equal(auctions["status"], "closed"))
    n_auctions = len(set(auctions["auction_id"].to_pylist()))
    assert summary.generated == {"users": users.num_rows, "auctions": n_auctions}
    assert summary.inserted == summary.generated
    with psycopg.connect(pg_url) as conn:
        assert {r[0] for r in conn.execute("SELECT user_id FROM marketplace.users")} == set(
            users["user_id"].to_pylist()
        )
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'closed'), sum(final_price), count(winner_id), "
            "sum(start_price) FROM marketplace.auctions"
        ).fetchone()
        assert row is not None
        assert row[:2] == (n_auctions, closed.num_rows)
        assert row[2] == pc.sum(closed["final_price"]).as_py() and row[3] == pc.count(closed["winner_id"]).as_py()
        assert row[4] == pc.sum(closed["start_price"]).as_py()
        # updated_at is the time of the row's last event: the close
        latest = conn.execute("SELECT max(updated_at) FROM marketplace.auctions").fetchone()
        assert latest is not None and latest[0] == pc.max(closed["event_time"]).as_py()
    again = seed(config, settings)
    assert again.inserted == {"users": 0, "auctions": 0}


def test_seed_db_command(pg_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "AUCTION_DATABASE_URL": pg_url, "AUCTION_LAKE_URL": str(tmp_path / "lake")}
    result = subprocess.run([sys.executable, "-m", "app", "seed-db", "--events", "2000", "--seed", "3"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    users = build(GeneratorConfig(seed=3, events=2000)).tables["users"].num_rows
    assert f"users={users}/{users}" in result.stdout
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM marketplace.users").fetchone() == (users,)


# ---- bad input -------------------------------------------------------------------------------------


def _with(pg_url: str, **parts: str) -> str:
    return make_conninfo(pg_url, **parts)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_one_line_naming_the_host(tmp_path: Path) -> None:
    port = _free_port()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/auction"
    settings = pg_settings(tmp_path, tmp_path / "lake", url)
    with pytest.raises(UserError) as info:
        connect(settings)
    message = str(info.value)
    assert message == f"PostgreSQL 127.0.0.1:{port}/auction as postgres: cannot connect: Connection refused"
    assert "hunter2" not in message


def test_a_server_that_never_answers_fails_within_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts TCP connections (kernel backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = pg_settings(tmp_path, tmp_path / "lake", f"postgresql://postgres:hunter2@127.0.0.1:{port}/x",
                               database_timeout_s=2)  # fmt: skip
        began = time.monotonic()
        with pytest.raises(UserError, match=rf"PostgreSQL 127.0.0.1:{port}/x as postgres: cannot connect: .*timeout"):
            connect(settings)
        assert time.monotonic() - began < 2 + 3


def test_wrong_credentials_are_one_line_and_the_password_is_never_shown(pg_url: str, tmp_path: Path) -> None:
    """Through the CLI: the one line on stderr, stdout, and the job's row in ops.job_runs."""
    parts = conninfo_to_dict(pg_url)
    url = f"postgresql://nobody_{uuid.uuid4().hex[:6]}:hunter2@{parts['host']}:{parts.get('port', 5432)}/x"
    lake = tmp_path / "lake"
    env = {**os.environ, "AUCTION_DATABASE_URL": url, "AUCTION_LAKE_URL": str(lake), "AUCTION_DATABASE_TIMEOUT_S": "3"}
    result = subprocess.run([sys.executable, "-m", "app", "extract"], capture_output=True, text=True, cwd=tmp_path,
                            env=env, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: PostgreSQL {parts['host']}:") and "does not exist" in result.stderr
    from app.history import read_runs
    from pipelines.infra.lake import Lake

    runs = read_runs(Lake(str(lake)), "extract")
    assert [r["status"] for r in runs] == ["failed"] and "nobody_" in runs[0]["error"]
    for text in (result.stdout, result.stderr, str(runs)):
        assert "hunter2" not in text
    # a malformed DSN is not echoed either
    bad = subprocess.run([sys.executable, "-m", "app", "migrate"], capture_output=True, text=True, cwd=tmp_path,
                         env={**env, "AUCTION_DATABASE_URL": "postgresql://u:hunter2@[::1"}, timeout=60)  # fmt: skip
    assert bad.returncode == 1 and "not a valid PostgreSQL DSN" in bad.stderr and "hunter2" not in bad.stderr


@pytest.mark.parametrize("command", ["migrate", "seed-db", "extract", "publish"])
def test_without_a_database_url_the_commands_say_the_features_are_off(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    with pytest.raises(SystemExit) as info:
        main([command])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == "error: AUCTION_DATABASE_URL is not set: the PostgreSQL features are off (set it to a DSN)\n"


def test_where_never_includes_the_password() -> None:
    assert where("postgresql://bi:s3cret@db.internal:6543/warehouse") == "db.internal:6543/warehouse as bi"
    assert where("host=db user=bi password=s3cret dbname=w") == "db:5432/w as bi"


# ---- scheduled jobs ---------------------------------------------------------------------------------


def test_with_a_database_run_schedules_extract_and_publishes_after_each_refresh(settings: Settings) -> None:
    from app.registry import jobs_for

    plain = {job.name: job for job in jobs_for(settings)}
    assert "extract" not in plain and plain["refresh"].then == ()
    with_db = {
        job.name: job
        for job in jobs_for(settings.model_copy(update={"database_url": SecretStr("postgresql://x@h/db")}))
    }
    assert with_db["extract"].every_s == settings.extract_every_s
    assert [job.name for job in with_db["refresh"].then] == ["publish"]


def test_the_scheduler_runs_a_follow_up_job_after_each_success_recorded_as_after(settings: Settings) -> None:
    from app.history import read_runs
    from app.jobs import Job, Outcome
    from app.scheduler import start_scheduler
    from pipelines.infra.lake import Lake

    order: list[str] = []
    follow = Job("publish", lambda _w: order.append("publish") or Outcome(), retries=0)
    refresh = Job("refresh", lambda _w: order.append("refresh") or Outcome(), every_s=0.3, then=(follow,))
    scheduler = start_scheduler(settings, [refresh], lambda _l: None, catch_up=False)
    deadline = time.monotonic() + 10
    while order.count("publish") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.shutdown()
    assert order[:4] == ["refresh", "publish", "refresh", "publish"]
    runs = read_runs(Lake.from_settings(settings), "publish")
    assert runs and {r["trigger"] for r in runs} == {"after"}


def test_migration_files_are_numbered_and_documented() -> None:
    for path in sorted(MIGRATIONS.glob("*.sql")):
        head = path.read_text().splitlines()[:3]
        assert head[0].startswith(f"-- {path.stem}:"), path.name
        assert any(line.startswith("-- grain:") for line in head), path.name
