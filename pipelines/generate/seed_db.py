"""Seed PostgreSQL's operational tables with the generator's users and auctions (``python -m app seed-db``).

The rows are those the generator streams for the same config (same seed, events, days, start, partitions):
each user, and each auction in its last state (closed with its result; open if it never closed), with
``updated_at`` = the event time of that state. They go in with COPY, ``batch_rows`` rows per CSV chunk
(encoded by Arrow, not row by row in Python), into temporary tables, then into ``marketplace.*`` with
``ON CONFLICT DO NOTHING``: one transaction, so a failure loads nothing and seeding the same config twice
adds nothing. Users go first (auctions reference them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa

from pipelines.generate.config import GeneratorConfig
from pipelines.infra.migrate import migrate
from pipelines.infra.postgres import columns as table_columns
from pipelines.infra.postgres import connect, csv_chunks, failing_as, where
from pipelines.infra.settings import Settings

#: operational table of each generated topic, and its key
TABLES = {"users": ("marketplace.users", "user_id"), "auctions": ("marketplace.auctions", "auction_id")}


@dataclass(frozen=True)
class SeedSummary:
    """Rows generated and rows inserted (0 when the config was seeded before) per table."""

    generated: dict[str, int]
    inserted: dict[str, int]
    seconds: float
    target: str

    def line(self) -> str:
        parts = " ".join(f"{t}={self.inserted[t]}/{self.generated[t]}" for t in self.generated)
        return f"seeded {self.target}: inserted/generated {parts} in {self.seconds:.2f} s"


def current_state(table: pa.Table, key: str) -> pa.Table:
    """The last row of each ``key`` (events are in time order; a close comes after its opening)."""
    import polars as pl

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.unique(key, keep="last", maintain_order=True).to_arrow()


def operational_rows(table: pa.Table, columns: list[str]) -> pa.Table:
    """``columns`` of the operational table from generated rows: ``updated_at`` is the event time."""
    table = table.append_column("updated_at", table["event_time"])
    return table.select(columns)


def seed(config: GeneratorConfig, settings: Settings, batch_rows: int = 50_000) -> SeedSummary:
    """Generate ``config`` and load its users and auctions (see the module docstring)."""
    from psycopg import sql

    from pipelines.generate.tables import build

    began = time.perf_counter()
    built = build(config)
    states = {topic: current_state(built.tables[topic], key) for topic, (_, key) in TABLES.items()}
    generated = {topic: t.num_rows for topic, t in states.items()}
    inserted = {}
    with connect(settings) as conn:
        with failing_as(settings, "migrations"):
            migrate(conn)
        with failing_as(settings, "seed-db"), conn.transaction():
            for topic, (qualified, key) in TABLES.items():
                columns = [c for c in table_columns(conn, qualified) if c in states[topic].column_names or
                           c == "updated_at"]  # fmt: skip
                rows = operational_rows(states[topic], columns)
                names = sql.SQL(", ").join(map(sql.Identifier, columns))
                stage = sql.Identifier(f"seed_{topic}")
                target = sql.Identifier(*qualified.split("."))
                conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(stage, target))
                with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(stage, names)) as copy:
                    for chunk in csv_chunks(rows, batch_rows):
                        copy.write(chunk)
                cursor = conn.execute(
                    sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO NOTHING").format(
                        target, names, names, stage, sql.Identifier(key)
                    )
                )
                inserted[topic] = cursor.rowcount
    return SeedSummary(
        generated, inserted, time.perf_counter() - began, where(settings.database_url.get_secret_value())
    )
