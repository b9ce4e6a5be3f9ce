"""Publish: the lake's gold tables copied into PostgreSQL schema ``gold`` for BI tools (``python -m app publish``).

All tables change in **one transaction**, so a reader sees the previous publish or this one, never a
mix, a half-loaded table or an empty one:

1. each changed table is loaded with COPY (CSV encoded by Arrow, in chunks) into a staging table
   ``gold._publish_<table>`` shaped like the live one, and gets its primary key (built once, after the
   load) and the live table's grants -- the live tables are not locked while this happens;
2. then every live table is dropped and its staging table renamed into place (locks held for
   milliseconds, up to ``AUCTION_DATABASE_TIMEOUT_S`` waiting for a reader's lock), and the hash of the
   lake file each came from is recorded in ``auction_meta.gold_published``.

A table whose lake file has the recorded hash is left alone, so publishing again changes nothing. A
failure (connection, permission, lock timeout, a gold column the lake lacks) rolls everything back.
A view on a gold table would be dropped with it: PostgreSQL refuses, and the publish fails in one line.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.batch.gold import PUBLISHED_TABLES
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.migrate import migrate
from pipelines.infra.postgres import columns as table_columns
from pipelines.infra.postgres import connect, csv_chunks, dsn, failing_as
from pipelines.infra.settings import Settings

if TYPE_CHECKING:
    import psycopg

#: rows per CSV chunk handed to COPY (encoded in a thread while the previous chunk is sent)
CHUNK_ROWS = 65_536
STAGE_PREFIX = "_publish_"
#: pg_advisory_xact_lock key held by a publish
PUBLISH_LOCK = 7_317_002


@dataclass(frozen=True)
class GoldFile:
    name: str
    digest: str
    table: pa.Table


@dataclass
class PublishResult:
    """Rows copied per published table, the tables skipped as unchanged, and the seconds taken."""

    published: dict[str, int] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        copied = " ".join(f"{k}={v}" for k, v in self.published.items()) or "none"
        same = f"; unchanged: {', '.join(self.unchanged)}" if self.unchanged else ""
        return f"published gold tables {copied}{same} in {self.seconds:.2f} s"


def read_gold(lake: Lake) -> list[GoldFile]:
    """Every gold table of the lake with the hash of its file; one line if one is missing."""
    found = []
    for name in PUBLISHED_TABLES:
        relpath = f"gold/{name}/{name}.parquet"
        try:
            data = lake.fs.cat_file(lake.path(relpath))
        except FileNotFoundError:
            raise UserError(
                f"no {relpath} in lake {lake.where()}: run `python -m app batch` first (nothing was published)"
            ) from None
        found.append(GoldFile(name, hashlib.sha256(data).hexdigest(), pq.read_table(io.BytesIO(data))))
    return found


def publish(settings: Settings, lake: Lake | None = None, force: bool = False) -> PublishResult:
    """Copy every changed gold table into schema ``gold`` in one transaction (see the module docstring)."""
    began = time.perf_counter()
    dsn(settings)  # off without a database: say so before reading the lake
    files = read_gold(lake or Lake.from_settings(settings))
    result = PublishResult()
    with connect(settings) as conn:
        with failing_as(settings, "migrations"):
            migrate(conn)
        with failing_as(settings, "publish"), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [PUBLISH_LOCK])  # two publishes take turns
            timeout_ms = int(settings.database_timeout_s * 1000)
            conn.execute("SELECT set_config('lock_timeout', %s, true)", [f"{timeout_ms}ms"])
            recorded: dict[str, str] = dict(
                conn.execute("SELECT table_name, source_hash FROM auction_meta.gold_published").fetchall()
            )
            changed = [f for f in files if force or recorded.get(f.name) != f.digest]
            result.unchanged = [f.name for f in files if f not in changed]
            for gold in changed:
                result.published[gold.name] = stage(conn, gold)
            for gold in changed:
                swap(conn, gold)
    result.seconds = time.perf_counter() - began
    return result


def stage(conn: psycopg.Connection, gold: GoldFile) -> int:
    """Load ``gold`` into its staging table with its primary key and the live table's grants; returns rows."""
    from psycopg import sql

    live, staging = sql.Identifier("gold", gold.name), sql.Identifier("gold", STAGE_PREFIX + gold.name)
    columns = table_columns(conn, f"gold.{gold.name}")
    missing = [c for c in columns if c not in gold.table.column_names]
    if missing:
        raise UserError(f"the lake's gold/{gold.name} has no column {', '.join(missing)} that gold.{gold.name} has "
                        "(re-run `python -m app batch`, or add a migration)")  # fmt: skip
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))
    conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(staging, live))
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(staging, names)) as copy:
        for chunk in csv_chunks(gold.table.select(columns), CHUNK_ROWS):
            copy.write(chunk)
    key = _primary_key(conn, gold.name)
    if key:
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            staging, sql.Identifier(f"{STAGE_PREFIX}{gold.name}_pkey"), sql.SQL(", ").join(map(sql.Identifier, key))
        ))  # fmt: skip
    grants = conn.execute(
        "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, "
        "a.is_grantable FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s::regclass AND a.grantee <> c.relowner",
        [f"gold.{gold.name}"],
    ).fetchall()
    for privilege, grantee, grantable in grants:  # names from the catalog, already quoted by regrole
        option = sql.SQL(" WITH GRANT OPTION" if grantable else "")
        conn.execute(sql.SQL("GRANT {} ON {} TO {}{}").format(sql.SQL(privilege), staging, sql.SQL(grantee), option))
    return gold.table.num_rows


def swap(conn: psycopg.Connection, gold: GoldFile) -> None:
    """Replace the live table by its staging table and record the lake file's hash."""
    from psycopg import sql

    live = sql.Identifier("gold", gold.name)
    conn.execute(sql.SQL("DROP TABLE {}").format(live))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
        sql.Identifier("gold", STAGE_PREFIX + gold.name), sql.Identifier(gold.name)))  # fmt: skip
    index = sql.Identifier("gold", f"{STAGE_PREFIX}{gold.name}_pkey")
    conn.execute(sql.SQL("ALTER INDEX IF EXISTS {} RENAME TO {}").format(index, sql.Identifier(f"{gold.name}_pkey")))
    conn.execute(
        "INSERT INTO auction_meta.gold_published VALUES (%s, %s, %s, now()) ON CONFLICT (table_name) DO UPDATE "
        "SET source_hash = excluded.source_hash, rows = excluded.rows, published_at = excluded.published_at",
        [gold.name, gold.digest, gold.table.num_rows],
    )


def _primary_key(conn: psycopg.Connection, name: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
        [f"gold.{name}"],
    ).fetchall()
    return [r[0] for r in rows]
