"""DuckDB over the lake: a connection that can reach it (local dir or S3) and a view per lake table.

Views live in schemas ``bronze``, ``silver``, ``quarantine``, ``gold`` (``bronze.bids``,
``silver.auctions``, ``quarantine.bids``, ``gold.daily_revenue`` …), one per table directory that
holds at least one Parquet file, each a ``read_parquet`` over the table's hive-partitioned glob; and
``ops`` (``ops.job_runs``, the run history), whose views exist even before any file does (empty).
A bronze view reads the list of files found when it was defined, without those a compacted file
supersedes (:func:`pipelines.infra.lake.live_files`): one consistent snapshot, never a row twice while compaction
runs; a view defined before a compaction fails loudly (a file is gone) rather than miscount --
:func:`create_views` again, as the SQL shell does before each statement.
Topic names with ``-`` become ``_`` (``bronze.bids_scored``).

S3 needs DuckDB's ``httpfs`` extension. It is loaded offline from the ``duckdb-extension-httpfs``
wheel (pinned to the library's version), never downloaded: the machine may have no internet.

DDL cannot take bound parameters, so paths and secrets enter the statements through
:func:`sql_literal`, which quotes them; nothing else is interpolated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

import duckdb

from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake, live_files
from pipelines.infra.settings import Settings

LAYERS = ("bronze", "silver", "quarantine", "gold", "ops")
#: the operational tables, and their columns when no file exists yet (the view is then empty, same columns)
OPS_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "job_runs": (
        ("run_id", "VARCHAR"), ("job", "VARCHAR"), ("trigger", "VARCHAR"), ("scheduled_time", "TIMESTAMPTZ"),
        ("start_time", "TIMESTAMPTZ"), ("end_time", "TIMESTAMPTZ"), ("status", "VARCHAR"), ("attempt", "INTEGER"),
        ("rows_in", "BIGINT"), ("rows_out", "BIGINT"), ("error", "VARCHAR"), ("detail", "VARCHAR"),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class LakeTable:
    """One table of the lake: its layer, its view name and the glob that reads it."""

    layer: str
    name: str
    glob: str
    partitioned: bool
    files: tuple[str, ...] = ()
    """Bronze: the files to read (a snapshot of the listing without superseded files), instead of the glob."""

    @property
    def view(self) -> str:
        return f"{self.layer}.{self.name}"


def sql_literal(value: str) -> str:
    """A SQL string literal (single quotes doubled), for DDL where parameters are not allowed."""
    return "'" + value.replace("'", "''") + "'"


def httpfs_extension_path() -> str:
    """Path of the httpfs extension shipped in the ``duckdb-extension-httpfs`` wheel for this DuckDB."""
    try:
        import duckdb_extension_httpfs
    except ImportError:
        raise UserError(
            "S3 needs the httpfs extension: pip install duckdb-extension-httpfs==" + duckdb.__version__
        ) from None
    path = os.path.join(
        os.path.dirname(duckdb_extension_httpfs.__file__),
        "extensions",
        f"v{duckdb.__version__}",
        "httpfs.duckdb_extension",
    )
    if not os.path.exists(path):
        raise UserError(f"no httpfs extension for DuckDB {duckdb.__version__} at {path}: install the matching wheel")
    return path


def setup_sql(settings: Settings) -> list[str]:
    """Statements that let DuckDB reach the lake: for S3, load httpfs and create a secret from the settings."""
    if not settings.lake_url.startswith("s3://"):
        return []
    options = [("TYPE", "s3"), ("REGION", settings.aws_region)]
    if settings.aws_access_key_id:
        options += [
            ("KEY_ID", settings.aws_access_key_id),
            ("SECRET", settings.aws_secret_access_key.get_secret_value()),
        ]
    if settings.aws_endpoint_url:
        endpoint = urlparse(settings.aws_endpoint_url)
        options += [
            ("ENDPOINT", endpoint.netloc or endpoint.path),
            ("URL_STYLE", "path"),
            ("USE_SSL", "true" if endpoint.scheme == "https" else "false"),
        ]
    body = ", ".join(f"{key} {value if key in ('TYPE', 'USE_SSL') else sql_literal(value)}" for key, value in options)
    return [f"LOAD {sql_literal(httpfs_extension_path())}", f"CREATE OR REPLACE SECRET lake ({body})"]


def lake_tables(lake: Lake) -> list[LakeTable]:
    """The tables present in the lake (a directory under a layer holding at least one Parquet file)."""
    lake.fs.invalidate_cache()  # s3fs caches listings per process: a batch may just have added tables
    tables = []
    for layer in LAYERS:
        base = lake.path(layer)
        try:
            entries = sorted(lake.fs.ls(base, detail=False)) if lake.fs.exists(base) else []
        except FileNotFoundError:
            entries = []
        for entry in entries:
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(".") or not lake.list_files(f"{layer}/{name}"):
                continue
            listed = lake.list_files(f"{layer}/{name}")
            partitioned = any("/date=" in p for p in listed[:1])
            pattern = "*/*.parquet" if partitioned else "*.parquet"
            files = tuple(p if lake.is_local else f"s3://{p}" for p in live_files(listed)) if layer == "bronze" else ()
            tables.append(LakeTable(layer, name.replace("-", "_"), lake.uri(layer, name, pattern), partitioned, files))
    return tables


def view_statements(tables: list[LakeTable]) -> list[str]:
    """``CREATE SCHEMA`` + ``CREATE OR REPLACE VIEW`` for each table.

    A partitioned table gets its ``date`` from the path. The view exposes it as ``date + 0``: DuckDB
    1.5.5 crashes (internal error) answering ``min``/``max`` of a hive column from file statistics
    (duckdb/duckdb#25690, fixed after 1.5.5); an expression sidesteps that and still prunes files.
    """
    statements = [f"CREATE SCHEMA IF NOT EXISTS {layer}" for layer in LAYERS]
    for table in tables:
        files = "[" + ", ".join(sql_literal(path) for path in table.files) + "]" if table.files else ""
        source = f"read_parquet({files or sql_literal(table.glob)}"
        if table.layer == "ops":  # the date directories only spread files: the columns are the contract
            source += ", hive_partitioning = false)"
            select = "SELECT *"
        elif table.partitioned:
            source += ", hive_partitioning = true, hive_types = {'date': DATE})"
            select = "SELECT * REPLACE (date + 0 AS date)"
        else:
            source += ", hive_partitioning = false)"
            select = "SELECT *"
        statements.append(f'CREATE OR REPLACE VIEW {table.layer}."{table.name}" AS {select} FROM {source}')
    present = {table.name for table in tables if table.layer == "ops"}
    for name, columns in OPS_TABLES.items():
        if name not in present:
            nulls = ", ".join(f"CAST(NULL AS {kind}) AS {column}" for column, kind in columns)
            statements.append(f"CREATE OR REPLACE VIEW ops.{name} AS SELECT {nulls} WHERE false")
    return statements


def views_sql(settings: Settings) -> str:
    """The whole setup as one SQL script (for the DuckDB CLI): lake access, schemas and views."""
    lake = Lake.from_settings(settings)
    statements = ["SET TimeZone = 'UTC'", *setup_sql(settings), *view_statements(_listed(lake))]
    return "".join(f"{statement};\n" for statement in statements)


def connect(
    settings: Settings, read_only_lake: bool = False, broken: dict[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that reaches the lake, with the lake's views defined.

    ``read_only_lake`` then locks the connection down: external access is limited to the lake root and
    the configuration is frozen, so queries cannot read or write files elsewhere. ``broken``: see
    :func:`create_views`.
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # it writes to stdout, which commands print results on
    for statement in setup_sql(settings):
        con.execute(statement)
    create_views(con, Lake.from_settings(settings), broken)
    if read_only_lake:
        lake = Lake.from_settings(settings)
        con.execute("SET allowed_directories = ?", [[lake.uri() + "/"]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def create_views(con: duckdb.DuckDBPyConnection, lake: Lake, broken: dict[str, str] | None = None) -> list[LakeTable]:
    """Define (or redefine) a view per lake table on ``con``; returns the tables found.

    A view binds its files' schema when it is defined, so one corrupt file fails the statement. With
    ``broken`` given, such a table is left out instead (its view dropped) and ``broken[view]`` says why.
    """
    tables = _listed(lake)
    if broken is None:
        for statement in view_statements(tables):
            con.execute(statement)
        return tables
    broken.clear()
    views = {f'{t.layer}."{t.name}"': t for t in tables}
    for statement in view_statements(tables):
        table = next((t for name, t in views.items() if f" VIEW {name} AS " in statement), None)
        try:
            con.execute(statement)
        except duckdb.Error as exc:
            if table is None:
                raise
            broken[table.view] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            con.execute(f'DROP VIEW IF EXISTS {table.layer}."{table.name}"')
    return [t for t in tables if t.view not in broken]


def _listed(lake: Lake) -> list[LakeTable]:
    try:
        return lake_tables(lake)
    except UserError:
        raise
    except Exception as exc:  # OSError, or botocore's EndpointConnectionError/ClientError (not OSErrors)
        raise UserError(
            f"cannot list lake {lake.url}: {str(exc).strip().splitlines()[0] if str(exc) else exc}"
        ) from None
