"""Schema migrations: the numbered SQL files of ``migrations/`` applied in order, each recorded once.

``migrations/NNNN_name.sql`` runs when its number is not yet in ``auction_meta.schema_migrations``; the
row (number, name, SHA-256 of the file, time) is written in the same transaction as the file's DDL, so a
failed migration leaves nothing behind and a second run applies nothing. An applied file that has since
changed is refused (write a new migration instead). An advisory lock makes concurrent runs take turns.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.infra.errors import UserError

if TYPE_CHECKING:
    import psycopg

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
#: pg_advisory_xact_lock key of the migrator (any constant unique to this app)
LOCK_KEY = 7_317_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations(folder: Path = MIGRATIONS) -> list[Migration]:
    """The migration files in order; a file named otherwise is an error (it would silently never run)."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise UserError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise UserError(f"two migrations share a number in {folder}")
    return found


def applied(conn: psycopg.Connection) -> dict[int, str]:
    """Version -> checksum of the recorded migrations (empty on a database never migrated)."""
    row = conn.execute("SELECT to_regclass('auction_meta.schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return {}
    return dict(conn.execute("SELECT version, checksum FROM auction_meta.schema_migrations").fetchall())


def migrate(conn: psycopg.Connection, folder: Path = MIGRATIONS) -> list[str]:
    """Apply the pending migrations in one transaction; returns their names (empty: nothing to do).

    A database that has every migration only reads (a role that may not create anything can still publish).
    """
    wanted = migrations(folder)
    done = applied(conn)
    conn.rollback()  # the check above must not hold a snapshot into the locked section
    if all(m.version in done for m in wanted):
        _check_unchanged(wanted, done)
        return []
    names = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        conn.execute(
            "CREATE SCHEMA IF NOT EXISTS auction_meta; CREATE TABLE IF NOT EXISTS auction_meta.schema_migrations "
            "(version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL)"
        )
        done = applied(conn)  # again, under the lock: another migrator may have just finished
        _check_unchanged(wanted, done)
        for migration in wanted:
            if migration.version in done:
                continue
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO auction_meta.schema_migrations VALUES (%s, %s, %s, now())",
                [migration.version, migration.name, migration.checksum],
            )
            names.append(f"{migration.version:04d}_{migration.name}")
    return names


def _check_unchanged(wanted: list[Migration], done: dict[int, str]) -> None:
    for migration in wanted:
        if migration.version in done and done[migration.version] != migration.checksum:
            raise UserError(
                f"migration {migration.version:04d}_{migration.name}.sql changed after it was applied: "
                "add a new migration instead of editing an applied one"
            )
