"""`python -m app sql`: a read-only DuckDB SQL shell over the lake, with views ``bronze.*``, ``silver.*``, ``gold.*``.

Why not the DuckDB CLI binary (``duckdb-cli``)? It can be started with an init script from
:func:`pipelines.infra.duck.views_sql` and ``-safe``, but DuckDB's ``allowed_directories`` grants writes as well as
reads: inside the lake, ``COPY … TO`` and ``ATTACH`` of a new file still work, and the CLI has no hook to
refuse a statement. So this shell runs the same DuckDB library in-process, checks every statement with
:mod:`app.shell.guard` before running it, and keeps DuckDB's lock-down underneath. It has what one
expects from the CLI: line editing, persistent history (``<AUCTION_RUNTIME_DIR>/sql_history``) and tab
completion (readline) of keywords, views, columns and functions; the box output of the DuckDB CLI;
``.mode csv``; a few dot commands. Dot commands that touch files (``.output``, ``.shell``, ``.read`` …)
are refused like writing SQL.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import sys
import time
from pathlib import Path

import duckdb

from app.shell.guard import explain_refusal, kind, read_only_statements
from pipelines.infra.duck import connect, create_views
from pipelines.infra.errors import UserError
from pipelines.infra.lake import Lake
from pipelines.infra.settings import Settings

HELP = """\
.tables          list the views (bronze.*, silver.*, gold.*)
.schema VIEW     columns and types of a view
.mode box|csv    output as boxes (default) or CSV
.help            this help
.quit / .exit    leave (or Ctrl-D)
Statements end with ';'. The shell is read-only: SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, SET VARIABLE."""
FILE_COMMANDS = {".output", ".once", ".shell", ".sh", ".system", ".read", ".open", ".import", ".save", ".backup",
                 ".cd", ".log", ".excel", ".restore"}  # fmt: skip


class Shell:
    """A locked-down connection plus the output mode; runs statements and prints their results."""

    def __init__(self, settings: Settings) -> None:
        self.lake = Lake.from_settings(settings)
        self.lake_uri = self.lake.uri()
        self.con = connect(settings, read_only_lake=True)
        self._defined = time.monotonic()
        self.mode = "box"

    def execute(self, sql: str) -> None:
        """Run every statement in ``sql`` and print each result; raise UserError on a refusal or SQL error."""
        try:
            if time.monotonic() - self._defined > 1.0:  # the lake moves on (new days, compaction): see it now
                create_views(self.con, self.lake)
                self._defined = time.monotonic()
            for statement in read_only_statements(self.con, sql):
                query = statement.query
                if self.mode == "csv" and kind(statement) == "SELECT":
                    # DuckDB formats the values (as its CLI would). Not `relation.select(...)`: that binds
                    # while holding the GIL, which deadlocks against an S3 server in this process (moto).
                    query = "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM (\n" + query.rstrip().rstrip(";") + "\n)"
                relation = self.con.sql(query)
                if relation is not None:
                    self._print(relation)
        except duckdb.Error as exc:
            raise UserError(explain_refusal(exc, self.lake_uri)) from None

    def views(self) -> list[str]:
        rows = self.con.sql(
            "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
        ).fetchall()
        return [row[0] for row in rows]

    def words(self) -> list[str]:
        """Completion candidates: views, schemas, columns, keywords and function names."""
        query = """
            SELECT DISTINCT word FROM (
                SELECT table_schema || '.' || table_name AS word FROM information_schema.tables
                UNION ALL SELECT table_schema FROM information_schema.tables
                UNION ALL SELECT column_name FROM information_schema.columns
                UNION ALL SELECT keyword_name FROM duckdb_keywords()
                UNION ALL SELECT function_name FROM duckdb_functions() WHERE NOT starts_with(function_name, '__'))
            ORDER BY word"""
        return [row[0] for row in self.con.sql(query).fetchall()]

    def _print(self, relation: duckdb.DuckDBPyRelation) -> None:
        if self.mode == "csv":
            _write_csv(relation)
        else:
            relation.show(max_width=shutil.get_terminal_size((160, 40)).columns)


def _write_csv(relation: duckdb.DuckDBPyRelation) -> None:
    """All rows as CSV with a header, NULL as empty (values arrive as text for SELECTs, see execute)."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(relation.columns)
    while rows := relation.fetchmany(10_000):
        writer.writerows(rows)


def run_command(settings: Settings, sql: str, as_csv: bool = False) -> None:
    """``-c SQL``: run the statement(s), print the result, exit non-zero (UserError) on an error."""
    shell = Shell(settings)
    shell.mode = "csv" if as_csv else "box"
    shell.execute(sql)


def interactive(settings: Settings, as_csv: bool = False) -> int:
    """The read-eval-print loop; returns the exit status (1 if a statement failed when not on a terminal)."""
    shell = Shell(settings)
    shell.mode = "csv" if as_csv else "box"
    tty = sys.stdin.isatty()
    if tty:
        _setup_readline(settings.runtime_dir / "sql_history", shell.words())
        print(f"DuckDB {duckdb.__version__} on the lake {shell.lake_uri} (read-only). "
              f"{len(shell.views())} views; .tables lists them, .help for help.")  # fmt: skip
    failed = False
    pending: list[str] = []
    while True:
        try:
            line = input(("lake> " if not pending else "  ...> ") if tty else "")
        except EOFError:
            break
        except KeyboardInterrupt:
            pending = []
            print()
            continue
        if not pending and line.strip().startswith("."):
            if not _dot_command(shell, line.strip()):
                break
            continue
        pending.append(line)
        if line.rstrip().endswith(";"):
            failed |= not _run(shell, "\n".join(pending))
            pending = []
    if "\n".join(pending).strip():
        failed |= not _run(shell, "\n".join(pending))
    if tty:
        _save_history(settings.runtime_dir / "sql_history")
    return 1 if failed and not tty else 0


def _run(shell: Shell, sql: str) -> bool:
    try:
        shell.execute(sql)
    except UserError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return False
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return False
    return True


def _dot_command(shell: Shell, line: str) -> bool:
    """Handle a dot command; False means leave the shell."""
    command, _, argument = line.partition(" ")
    argument = argument.strip()
    if command in (".quit", ".exit", ".q"):
        return False
    if command == ".help":
        print(HELP)
    elif command == ".tables":
        print("\n".join(shell.views()) or "no views: the lake has no tables yet")
    elif command == ".schema" and argument:
        _run(shell, "DESCRIBE " + argument)  # goes through the same read-only check as typed SQL
    elif command == ".mode" and argument in ("box", "csv"):
        shell.mode = argument
    elif command in FILE_COMMANDS:
        print(f"Error: {command} is not available: the SQL shell is read-only and touches no files", file=sys.stderr)
    else:
        print(f"Error: unknown or incomplete command {line!r}; .help lists the commands", file=sys.stderr)
    return True


def _setup_readline(history: Path, words: list[str]) -> None:
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return
    readline.set_completer_delims(" \t\n(),;=<>+-*/'\"")
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")

    def complete(text: str, state: int) -> str | None:
        matches = [w for w in words if w.lower().startswith(text.lower())]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_history_length(2000)
    with contextlib.suppress(OSError):  # no history yet
        readline.read_history_file(history)


def _save_history(history: Path) -> None:
    try:
        import readline

        history.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(history)
    except (ImportError, OSError):
        pass
