"""PostgreSQL connections (psycopg 3) for the stages that use the operational database or publish to it.

``AUCTION_DATABASE_URL`` empty turns these features off: :func:`dsn` then says so in one line. Every
failure a user can cause (server unreachable or silent, wrong user or password, a missing permission,
a lock held too long) becomes one :class:`~pipelines.infra.errors.UserError` naming the server
(``host:port/database as user``) and what failed -- never the password: :func:`where` leaves it out
and :func:`scrub` removes it from any message that might echo the DSN.

Connecting waits at most ``AUCTION_DATABASE_TIMEOUT_S`` (libpq's ``connect_timeout``, at least 2 s).
Work runs in transactions: a failure rolls back, so nothing is half-loaded and a re-run completes.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.infra.errors import UserError
from pipelines.infra.settings import Settings

if TYPE_CHECKING:
    import psycopg

APPLICATION_NAME = "auction-pipeline"


def dsn(settings: Settings) -> str:
    """The configured DSN, or one line saying the PostgreSQL features are off."""
    value = settings.database_url.get_secret_value().strip()
    if not value:
        raise UserError("AUCTION_DATABASE_URL is not set: the PostgreSQL features are off (set it to a DSN)")
    return value


def _parts(value: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {k: str(v) for k, v in conninfo_to_dict(value).items() if v is not None}
    except Exception:
        # the parser's message can quote the DSN (and its password): say only that it is malformed
        raise UserError("AUCTION_DATABASE_URL is not a valid PostgreSQL DSN (postgresql://user@host:5432/db)") from None


def where(value: str) -> str:
    """``host:port/database as user`` of a DSN, without its password."""
    parts = _parts(value)
    host = parts.get("host") or parts.get("hostaddr") or "local socket"
    port = parts.get("port") or "5432"
    database = parts.get("dbname") or parts.get("user") or "postgres"
    user = parts.get("user") or "(default user)"
    return f"{host}:{port}/{database} as {user}"


def scrub(text: str, value: str) -> str:
    """``text`` with the DSN's password (and the DSN itself) replaced by ``***``."""
    password = _parts(value).get("password")
    text = text.replace(value, "***")
    return text.replace(password, "***") if password else text


def reason(exc: BaseException, value: str) -> str:
    """One line for a psycopg error: the server's primary message, or libpq's first useful line."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if primary:
        text = primary
    else:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        text = lines[0] if lines else type(exc).__name__
        # libpq: 'connection failed: connection to server at "h" (ip), port 5432 failed: FATAL:  role ...'
        text = text.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    return scrub(" ".join(text.split()), value)


def connect(settings: Settings, autocommit: bool = False, dbname: str | None = None) -> psycopg.Connection:
    """A connection to the configured database (or ``dbname`` on the same server), within the timeout."""
    import psycopg

    value = dsn(settings)
    if dbname is not None:
        from psycopg.conninfo import make_conninfo

        value = make_conninfo(value, dbname=dbname)
    timeout = max(2, math.ceil(settings.database_timeout_s))
    try:
        conn = psycopg.connect(value, connect_timeout=timeout, autocommit=True, application_name=APPLICATION_NAME)
        conn.execute("SET TimeZone TO 'UTC'")  # COPY's CSV carries UTC times without a zone (see csv_chunks)
    except psycopg.Error as exc:
        raise UserError(f"PostgreSQL {where(value)}: cannot connect: {reason(exc, value)}") from None
    conn.autocommit = autocommit
    return conn


@contextlib.contextmanager
def failing_as(settings: Settings, what: str) -> Iterator[None]:
    """Turn a psycopg error inside the block into one line: ``PostgreSQL <where>: <what> failed: <reason>``."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        value = dsn(settings)
        hint = ""
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            hint = " (grant the role the privileges it needs, or use a DSN of the owner)"
        elif isinstance(exc, psycopg.errors.LockNotAvailable):
            hint = f" (a reader held the table longer than AUCTION_DATABASE_TIMEOUT_S={settings.database_timeout_s:g})"
        raise UserError(
            f"PostgreSQL {where(value)}: {what} failed: {reason(exc, value)}{hint}; nothing was changed"
        ) from None


def columns(conn: psycopg.Connection, qualified: str) -> list[str]:
    """Column names of table ``schema.name`` in order (a missing table or schema, or no right to it, raises)."""
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
        [qualified],
    ).fetchall()
    return [r[0] for r in rows]


def for_csv(table: pa.Table) -> pa.Table:
    """The table with UTC timestamps as zone-less ones (milliseconds when no value has more precision).

    Arrow formats a zoned timestamp ~30x slower than a naive one; the session's TimeZone is UTC
    (:func:`connect`), so PostgreSQL reads the same instants.
    """
    out = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit))
            with contextlib.suppress(pa.ArrowInvalid):  # sub-millisecond values: keep the unit
                column = column.cast(pa.timestamp("ms"), safe=True)
        out.append(column)
    return pa.Table.from_arrays(out, names=table.column_names)


def csv_chunks(table: pa.Table, rows: int = 65_536) -> Iterator[bytes]:
    """CSV for ``COPY … (FORMAT csv)``: no header, strings quoted, NULL as an empty unquoted field, ``rows``
    rows at a time; the next chunk is encoded in a thread (Arrow releases the GIL) while one is sent."""
    table = for_csv(table)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")

    def encode(first: int) -> bytes:
        buffer = io.BytesIO()
        pacsv.write_csv(table.slice(first, rows), buffer, options)
        return buffer.getvalue()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for first in range(0, table.num_rows, rows):
            future = pool.submit(encode, first)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()
