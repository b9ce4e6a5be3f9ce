"""The wire form of generated events: the contract's JSON, built column-wise by Arrow.

Each table slice becomes one JSON text per row by joining pre-encoded columns with the literal
``{"field":`` pieces (Arrow's ``binary_join_element_wise``), so no Python dict is built for the broker.
The bytes are the same as ``Model.model_dump_json()`` gives (a test proves it): compact, fields in
model order, non-ASCII as UTF-8, money as ``"12.50"``, times as ``"2026-11-01T08:00:00.123Z"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.generate.tables import TOPIC_ORDER, Built

_ISO_WIDTH = 24  # 2026-11-01T08:00:00.123Z


def iso_strings(epoch_ms: np.ndarray) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for each epoch-ms value (years 0..9999), as fixed-width bytes."""
    ms = np.asarray(epoch_ms, dtype=np.int64)
    days, rest = np.divmod(ms, 86_400_000)
    # civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    block = np.empty((len(ms), _ISO_WIDTH), dtype=np.uint8)
    fields = ((year, 0, 4), (month, 5, 2), (day, 8, 2), (rest // 3_600_000, 11, 2),
              (rest // 60_000 % 60, 14, 2), (rest // 1000 % 60, 17, 2), (rest % 1000, 20, 3))  # fmt: skip
    for value, at, width in fields:
        value = value.copy()
        for column in range(at + width - 1, at - 1, -1):
            block[:, column] = 48 + value % 10
            value //= 10
    for at, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (23, "Z")):
        block[:, at] = ord(char)
    offsets = np.arange(0, (len(ms) + 1) * _ISO_WIDTH, _ISO_WIDTH, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), len(ms), [None, pa.py_buffer(offsets), pa.py_buffer(block)])


def _escaped(values: pa.Array) -> pa.Array:
    """String values escaped for a JSON string body, like orjson/pydantic (usually nothing to do)."""
    if not pc.any(pc.match_substring_regex(values, r'["\\\x00-\x1f]')).as_py():
        return values
    if pc.any(pc.match_substring_regex(values, r"[\x00-\x1f]")).as_py():
        return pa.array([None if v is None else orjson.dumps(v).decode()[1:-1] for v in values.to_pylist()])
    return pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')


def json_column(table: pa.Table) -> pa.Array:
    """One JSON object per row of a contract table (a ``binary`` array).

    Text-like values (strings, times, money) go between literal quotes in the joined pieces; a column
    with nulls in this slice is quoted per value instead, with ``null`` where a value is missing.
    """
    pieces: list[Any] = []
    literal = "{"  # text between the previous value and the next one
    for field, column in zip(table.schema, table.columns, strict=True):
        values = column.combine_chunks()
        literal += ("" if literal == "{" else ",") + f'"{field.name}":'
        if pa.types.is_timestamp(field.type):
            text = iso_strings(values.cast(pa.int64()).fill_null(0).to_numpy())
            text = pc.if_else(pc.is_null(values), pa.scalar(None, pa.string()), text) if values.null_count else text
        elif pa.types.is_decimal(field.type):
            text = values.cast(pa.string())
        elif pa.types.is_string(field.type):
            text = _escaped(values)
        else:
            if pa.types.is_boolean(field.type):
                values = pc.if_else(values, "true", "false")
            pieces += [literal, pc.fill_null(values.cast(pa.string()), "null")]
            literal = ""
            continue
        if values.null_count:
            pieces += [literal, pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")]
            literal = ""
        else:
            pieces += [literal + '"', text]
            literal = '"'
    pieces.append(literal + "}")
    return pc.binary_join_element_wise(*pieces, "").cast(pa.binary())


def json_batches(built: Built, batch_size: int) -> Iterator[list[tuple[str, str, bytes]]]:
    """The events in global event order, ``batch_size`` at a time, as ``(topic, key, JSON bytes)``."""
    cursors = dict.fromkeys(TOPIC_ORDER, 0)
    for begin in range(0, len(built.topic_of), batch_size):
        codes = built.topic_of[begin : begin + batch_size]
        counts = np.bincount(codes, minlength=len(TOPIC_ORDER))
        streams = []
        for code, topic in enumerate(TOPIC_ORDER):
            start, n = cursors[topic], int(counts[code])
            cursors[topic] += n
            keys = built.keys[topic].slice(start, n).to_pylist()
            values = json_column(built.tables[topic].slice(start, n)).to_pylist()
            streams.append(iter(zip([topic] * n, keys, values, strict=True)))
        yield [next(streams[code]) for code in codes.tolist()]


def wire_batches(built: Built, batch_size: int) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """Like :func:`json_batches` with each value decoded: ``(topic, key, record)``."""
    loads = orjson.loads
    for batch in json_batches(built, batch_size):
        yield [(topic, key, loads(value)) for topic, key, value in batch]
