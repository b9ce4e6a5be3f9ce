"""What the read-only SQL shell lets through: reads of the lake, nothing that writes, copies or attaches.

Two layers, because neither is enough alone:

1. DuckDB's own settings (set by :func:`pipelines.infra.duck.connect` with ``read_only_lake=True``):
   ``allowed_directories = [lake root]``, ``enable_external_access = false``, ``lock_configuration =
   true``. They stop reading or writing anything *outside* the lake and any later ``SET`` that would undo
   them. They do not stop writes *inside* an allowed directory: measured on DuckDB 1.5.5, ``COPY … TO``
   a path under the lake and ``ATTACH`` of a new database file there both succeed with those settings on.
2. So every statement is parsed by DuckDB first and only read statement types run: ``SELECT`` (which
   includes ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``, ``FROM …``, ``VALUES``), ``EXPLAIN`` of a ``SELECT``,
   ``SET`` (config changes are refused by the lock; ``SET VARIABLE`` and ``USE`` work) and transaction
   statements. Anything else (``COPY``, ``ATTACH``, ``CREATE``, ``INSERT``, ``EXPORT``, ``INSTALL``,
   ``CALL``, ``PRAGMA`` …) is refused with one line saying the shell is read-only.
3. Two table functions write files from inside a ``SELECT`` and are not stopped by the lock either
   (measured): ``enable_logging(storage='file', storage_path=…)`` and ``enable_profiling(save_location=…)``.
   A statement naming them anywhere (even in a subquery or ``SET VARIABLE``) is refused.
"""

from __future__ import annotations

import re

import duckdb

from pipelines.infra.errors import UserError

READ_TYPES = {"SELECT", "EXPLAIN", "SET", "TRANSACTION"}
WRITING_FUNCTIONS = re.compile(r"\b(enable_logging|enable_profiling)\b", re.IGNORECASE)
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+|\([^)]*\)\s*)?", re.IGNORECASE)
_HINT = "query the bronze.*, silver.* and gold.* views with SELECT"


class ReadOnlyError(UserError):
    """A statement the read-only shell refuses (or DuckDB refused because it reaches outside the lake)."""


def kind(statement: duckdb.Statement) -> str:
    """The statement's type name, e.g. ``SELECT`` or ``COPY``."""
    return str(statement.type).rsplit(".", 1)[-1]


def read_only_statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    """Parse ``sql`` into statements; raise :class:`ReadOnlyError` if any of them is not a read.

    A statement that does not parse raises ``duckdb.Error`` (the caller prints it).
    """
    statements = _parse(con, sql)
    for statement in statements:
        name = kind(statement)
        if name not in READ_TYPES:
            verb = _verb(statement.query) or name
            raise ReadOnlyError(f"the SQL shell is read-only: {verb} is not allowed ({_HINT})")
        writer = WRITING_FUNCTIONS.search(statement.query)
        if writer:
            raise ReadOnlyError(f"the SQL shell is read-only: {writer.group(1).lower()}() writes files ({_HINT})")
        if name == "EXPLAIN":
            inner = _EXPLAIN.sub("", statement.query, count=1)
            if not inner.strip() or any(kind(s) != "SELECT" for s in _parse(con, inner)):
                raise ReadOnlyError(f"the SQL shell is read-only: EXPLAIN is allowed for SELECT only ({_HINT})")
    return statements


def explain_refusal(exc: duckdb.Error, lake_uri: str) -> str:
    """One line for a DuckDB error; a permission error says the shell only reads the lake."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in text:
        return f"the SQL shell is read-only and reads only the lake ({lake_uri}): {text}"
    return text


def _parse(con: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    return list(con.extract_statements(sql))  # a syntax error propagates as duckdb.Error


def _verb(query: str) -> str:
    words = query.split(None, 2)
    if not words:
        return ""
    verb = words[0].upper()
    if verb in ("CREATE", "DROP", "ALTER") and len(words) > 1:
        verb += " " + words[1].upper()
    return verb
