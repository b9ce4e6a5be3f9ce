"""Extract and publish against the real server: a changed row reaches gold, gold in PostgreSQL equals the
lake's, a second publish changes nothing, readers never see a partial table, and failures load nothing."""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from app.batch import run_batch
from pipelines.batch.gold import PUBLISHED_TABLES
from pipelines.batch.publish import publish
from pipelines.generate import GeneratorConfig
from pipelines.generate.seed_db import seed
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.ingest.extract import extract, extract_window, read_state, write_state
from tests.pg_lake import CONFIG, copy_lake, lake_gold, make_lake, pg_gold, pg_settings, primary_key, summary


@pytest.fixture(scope="module")
def gold_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bronze, silver and gold of :data:`CONFIG` (made once; tests work on copies)."""
    return make_lake(tmp_path_factory.mktemp("gold") / "lake")


@pytest.fixture(scope="module")
def other_gold_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gold of another, larger run: what a later refresh would publish."""
    return make_lake(tmp_path_factory.mktemp("gold2") / "lake", GeneratorConfig(seed=6, events=9_000, partitions=2))


def _oids(conn: psycopg.Connection) -> dict[str, int]:
    return {name: conn.execute("SELECT %s::regclass::oid", [f"gold.{name}"]).fetchone()[0] for name in PUBLISHED_TABLES}  # type: ignore[index]


def test_gold_tables_in_postgres_mirror_the_lakes_columns_and_types(gold_lake: Path, pg_url: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.infra.migrate import migrate

    pg_type = {pa.int64(): "bigint", pa.float64(): "double precision", pa.string(): "text", pa.date32(): "date"}
    with psycopg.connect(pg_url) as conn:
        migrate(conn)
        for name in PUBLISHED_TABLES:
            schema = pq.read_schema(gold_lake / "gold" / name / f"{name}.parquet")
            columns = conn.execute(
                "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
                "WHERE table_schema = 'gold' AND table_name = %s ORDER BY ordinal_position",
                [name],
            ).fetchall()
            assert [c[0] for c in columns] == schema.names, name
            for field, (_, data_type, precision, scale) in zip(schema, columns, strict=True):
                if pa.types.is_decimal(field.type):
                    assert (data_type, precision, scale) == ("numeric", 18, 2), (name, field.name)
                elif pa.types.is_timestamp(field.type):
                    assert data_type == "timestamp with time zone", (name, field.name)
                else:
                    assert data_type == pg_type[field.type], (name, field.name)
            assert primary_key(conn, name), f"gold.{name} has no primary key"


def test_publish_equals_the_lakes_gold_and_a_second_publish_changes_nothing(
    gold_lake: Path, pg_url: str, tmp_path: Path
) -> None:
    settings = pg_settings(tmp_path, gold_lake, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the CSV's times are UTC whatever the server's zone
        conn.execute(sql.SQL("ALTER DATABASE {} SET TimeZone = 'America/New_York'").format(
            sql.Identifier(conn.info.dbname)))  # fmt: skip
    first = publish(settings)
    assert set(first.published) == set(PUBLISHED_TABLES) and first.unchanged == []
    expected = lake_gold(gold_lake)
    assert first.published == {name: len(rows) for name, rows in expected.items()}
    with psycopg.connect(pg_url) as conn:
        assert pg_gold(conn) == expected  # row for row: money exact, times to the microsecond, floats bit for bit
        assert summary(pg_gold(conn)) == summary(expected)
        oids = _oids(conn)
    second = publish(settings)
    assert second.published == {} and second.unchanged == list(PUBLISHED_TABLES)
    forced = publish(settings, force=True)
    assert set(forced.published) == set(PUBLISHED_TABLES)
    with psycopg.connect(pg_url) as conn:
        assert pg_gold(conn) == expected
        assert _oids(conn) != oids  # forced: every table was swapped ...
        assert all(primary_key(conn, name) for name in PUBLISHED_TABLES)  # ... keeping its primary key
        names = conn.execute("SELECT relname FROM pg_class WHERE relnamespace = 'gold'::regnamespace").fetchall()
        assert not [n for (n,) in names if n.startswith("_publish_")]  # no staging table left behind


def test_a_row_changed_in_postgres_flows_through_extract_to_gold(gold_lake: Path, pg_url: str, tmp_path: Path) -> None:
    lake_dir = copy_lake(gold_lake, tmp_path / "lake")
    settings = pg_settings(tmp_path, lake_dir, pg_url)
    lake = Lake.from_settings(settings)
    seeded = seed(CONFIG, settings)
    first = {t.topic: t for t in extract(settings)}
    assert {k: v.rows for k, v in first.items()} == seeded.inserted
    result = run_batch(settings)
    auctions = next(t for t in result.tables if t.table == "auctions")
    assert auctions.silver == seeded.generated["auctions"]  # the extract's states supersede, add no auction

    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT auction_id FROM marketplace.auctions WHERE winner_id IS NOT NULL "
                           "ORDER BY auction_id LIMIT 1").fetchone()  # fmt: skip
        assert row is not None
        conn.execute("UPDATE marketplace.auctions SET category = 'vintage' WHERE auction_id = %s", [row[0]])
    second = {t.topic: t for t in extract(settings)}
    assert second["auctions"].rows == 1 and second["users"].rows == 0
    assert second["auctions"].window.since == first["auctions"].window.until
    run_batch(settings)
    publish(settings)
    with psycopg.connect(pg_url) as conn:
        vintage = conn.execute("SELECT auctions, auctions_sold FROM gold.category_performance "
                               "WHERE category = 'vintage'").fetchone()  # fmt: skip
        assert vintage == (1, 1)
        assert pg_gold(conn) == lake_gold(lake_dir)
    assert read_state(lake, "auctions") == {"watermark": second["auctions"].window.until.isoformat(), "pending": None}
    assert [t.rows for t in extract(settings)] == [0, 0]  # nothing changed since


def test_the_same_window_writes_the_same_files_and_a_pending_window_is_redone(pg_url: str, tmp_path: Path) -> None:
    settings = pg_settings(tmp_path, tmp_path / "lake", pg_url)
    lake = Lake.from_settings(settings)
    seed(GeneratorConfig(seed=8, events=3_000, partitions=2), settings)
    done = {t.topic: t for t in extract(settings)}
    files = {path: Path(path).read_bytes() for t in done.values() for path in t.files}
    assert files and all(t.rows for t in done.values())
    with psycopg.connect(pg_url) as conn:
        again = extract_window(settings, lake, conn, "users", done["users"].window)
    assert again.files == done["users"].files
    assert all(Path(p).read_bytes() == files[p] for p in again.files)
    # a crash after the window was chosen: the next extract redoes exactly that window
    write_state(lake, "auctions", None, done["auctions"].window)
    redone = {t.topic: t for t in extract(settings)}
    assert redone["auctions"].resumed and redone["auctions"].window == done["auctions"].window
    assert redone["auctions"].files == done["auctions"].files
    assert all(Path(p).read_bytes() == files[p] for p in redone["auctions"].files)
    assert redone["users"].rows == 0 and not redone["users"].resumed


def test_a_reader_polling_during_publish_never_sees_a_partial_table(
    gold_lake: Path, other_gold_lake: Path, pg_url: str, tmp_path: Path
) -> None:
    one, two = pg_settings(tmp_path, gold_lake, pg_url), pg_settings(tmp_path, other_gold_lake, pg_url)
    publish(one)
    states = [summary(lake_gold(gold_lake)), summary(lake_gold(other_gold_lake))]
    assert states[0] != states[1]
    wanted = {name: {s[name] for s in states} for name in PUBLISHED_TABLES}
    totals = {tuple(s[name][0] for name in PUBLISHED_TABLES) for s in states}
    seen: list[Any] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                while not stop.is_set():
                    counts = conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(
                        sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier("gold", n)) for n in PUBLISHED_TABLES
                    ))).fetchone()  # fmt: skip
                    seen.append(("all", counts))
                    for name in PUBLISHED_TABLES:
                        rows = sorted(conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier("gold", name))))
                        seen.append((name, summary({name: rows})[name]))
        except BaseException as exc:  # a failed query (say, a missing table) is a failure of the swap
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for settings in (two, one, two, one):
            publish(settings)
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert len([s for s in seen if s[0] == "all"]) >= 2
    for what, value in seen:
        if what == "all":
            assert tuple(value) in totals, value  # every table from the same publish
        else:
            assert value in wanted[what], (what, value)


def test_missing_permission_fails_in_one_line_and_changes_nothing(gold_lake: Path, pg_url: str, tmp_path: Path) -> None:
    owner = pg_settings(tmp_path, gold_lake, pg_url)
    publish(owner)
    role = f"auction_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'hunter2'").format(sql.Identifier(role)))
        before = pg_gold(conn)
    try:
        from psycopg.conninfo import make_conninfo

        reader = pg_settings(tmp_path, gold_lake, make_conninfo(pg_url, user=role, password="hunter2"))
        with pytest.raises(UserError) as info:
            publish(reader, force=True)
        message = str(info.value)
        assert "\n" not in message and "hunter2" not in message
        assert re.fullmatch(
            rf"PostgreSQL [\w.]+:\d+/auction_test_\w+ as {role}: (migrations|publish) failed: "
            r"permission denied for schema \w+ \(grant .*\); nothing was changed",
            message,
        ), message
        with psycopg.connect(pg_url, autocommit=True) as conn:  # it may read the migrations, not write gold
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA auction_meta TO {}").format(sql.Identifier(role)))
            conn.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA auction_meta TO {}").format(sql.Identifier(role))
            )
        with pytest.raises(UserError, match=rf"as {role}: publish failed: permission denied for schema gold"):
            publish(reader, force=True)
        with psycopg.connect(pg_url) as conn:
            assert pg_gold(conn) == before
        assert set(publish(owner, force=True).published) == set(PUBLISHED_TABLES)  # a re-run with the rights completes
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_publish_keeps_the_grants_of_the_tables_it_replaces(gold_lake: Path, pg_url: str, tmp_path: Path) -> None:
    role = f"auction_bi_{uuid.uuid4().hex[:8]}"
    settings = pg_settings(tmp_path, gold_lake, pg_url)
    publish(settings)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA gold TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT SELECT ON gold.seller_stats TO {}").format(sql.Identifier(role)))
    try:
        publish(settings, force=True)
        with psycopg.connect(pg_url) as conn:
            allowed = conn.execute("SELECT has_table_privilege(%s, 'gold.seller_stats', 'SELECT')", [role]).fetchone()
            assert allowed == (True,)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_publish_without_gold_says_to_run_batch_first(pg_url: str, tmp_path: Path) -> None:
    settings = pg_settings(tmp_path, tmp_path / "lake", pg_url)
    with pytest.raises(UserError, match=r"no gold/daily_revenue/daily_revenue.parquet .* run `python -m app batch`"):
        publish(settings)


def test_a_reader_holding_a_table_too_long_fails_publish_in_one_line_after_the_timeout(
    gold_lake: Path, other_gold_lake: Path, pg_url: str, tmp_path: Path
) -> None:
    import time

    publish(pg_settings(tmp_path, gold_lake, pg_url))
    with psycopg.connect(pg_url) as conn:
        before = pg_gold(conn)
    later = pg_settings(tmp_path, other_gold_lake, pg_url, database_timeout_s=1)
    with psycopg.connect(pg_url) as reader:  # a long report: its transaction keeps gold.seller_stats locked
        reader.execute("SELECT count(*) FROM gold.seller_stats").fetchone()
        began = time.monotonic()
        with pytest.raises(UserError, match=r"publish failed: canceling statement due to lock timeout \(a reader held"):
            publish(later)
        assert time.monotonic() - began < 1 + 10  # the lock wait is bounded (the rest is the load itself)
        reader.rollback()
    with psycopg.connect(pg_url) as conn:
        assert pg_gold(conn) == before  # nothing changed
    assert publish(later).published  # the re-run completes
    with psycopg.connect(pg_url) as conn:
        assert pg_gold(conn) == lake_gold(other_gold_lake)


def test_a_connection_lost_in_the_middle_of_publish_leaves_the_old_tables_and_a_rerun_completes(
    gold_lake: Path, other_gold_lake: Path, pg_url: str, tmp_path: Path
) -> None:
    """The server ends the publisher's session while it waits to swap: one line, nothing changed."""
    import time

    publish(pg_settings(tmp_path, gold_lake, pg_url))
    with psycopg.connect(pg_url) as conn:
        before = pg_gold(conn)
    later = pg_settings(tmp_path, other_gold_lake, pg_url, database_timeout_s=30)
    failures: list[BaseException] = []

    def publisher() -> None:
        try:
            publish(later)
        except BaseException as exc:
            failures.append(exc)

    with psycopg.connect(pg_url) as reader, psycopg.connect(pg_url, autocommit=True) as admin:
        reader.execute("SELECT count(*) FROM gold.seller_stats").fetchone()  # holds the table: publish waits
        thread = threading.Thread(target=publisher)
        thread.start()
        deadline, killed = time.monotonic() + 30, False
        while not killed and time.monotonic() < deadline:
            killed = bool(admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'auction-pipeline' "
                "AND datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchall())  # fmt: skip
            time.sleep(0.05)
        thread.join(30)
        reader.rollback()
    assert killed and len(failures) == 1 and isinstance(failures[0], UserError), failures
    message = str(failures[0])
    assert "\n" not in message and re.match(r"PostgreSQL [\w.]+:\d+/auction_test_\w+ as postgres: publish failed: ",
                                            message), message  # fmt: skip
    with psycopg.connect(pg_url) as conn:
        assert pg_gold(conn) == before
    publish(later)
    with psycopg.connect(pg_url) as conn:
        assert pg_gold(conn) == lake_gold(other_gold_lake)


def test_the_commands_print_what_they_did_and_are_recorded_as_jobs(
    gold_lake: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main
    from app.history import read_runs

    lake_dir = copy_lake(gold_lake, tmp_path / "lake")
    monkeypatch.setenv("AUCTION_DATABASE_URL", pg_url)
    monkeypatch.setenv("AUCTION_LAKE_URL", str(lake_dir))
    monkeypatch.setenv("AUCTION_EXTRACT_LAG_S", "0")
    outputs = []
    for argv in (["migrate"], ["migrate"], ["publish"], ["publish"], ["extract"]):
        main(argv)
        outputs.append(capsys.readouterr().out.strip())
    assert outputs[0].endswith("0001_operational, 0002_gold") and outputs[1].endswith(": up to date")
    assert outputs[2].startswith("published gold tables daily_revenue=") and "unchanged" not in outputs[2]
    assert outputs[3].startswith("published gold tables none; unchanged: daily_revenue, ")
    assert outputs[4].startswith("extracted changed rows users=0 auctions=0")
    runs = read_runs(Lake(str(lake_dir)))
    assert [(r["job"], r["trigger"], r["status"]) for r in runs if r["job"] != "batch"] == [
        ("publish", "manual", "success"), ("publish", "manual", "success"), ("extract", "manual", "success"),
    ]  # fmt: skip
    assert runs[-1]["detail"]["users"]["rows"] == 0
