"""Check rows of the project's own format against the event contracts (pure: rows in, events/rejects out).

The project's own files (CSV, Parquet, JSON lines) have the contract's field names as columns, so each
row is validated by the topic's pydantic model. Missing values (:data:`~pipelines.ingest.read.MISSING_MARKERS`:
blank, ``NA``, ``N/A``, ``null``, ``None``, ``NaN`` outside money) are values, not errors: in an optional
field (one with a default: ``reserve_price``, ``final_price``, ``winner_id``, ``fraud_label``, ``rating``, ...)
they store null (or the default), in a text field that may be empty (``name``, ``email``, ``city``,
``title``, ``category``, ``device_id``) the empty text; only a required field (ids, amounts, times, codes)
that is missing rejects the row. ``country`` is the exception: ``NA`` is Namibia. A failure becomes a
:class:`Reject` whose rule says what kind of problem it is (``bad_number``, ``bad_date``,
``negative_amount``, ``missing_value``, ...) and whose reason names the field and the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
from pydantic import TypeAdapter, ValidationError

from pipelines.contracts import TOPIC_MODELS, Event, arrow_schema
from pipelines.ingest.read import Reject, Row, is_missing, raw_text

IMPORT_TOPICS = ("bids", "auctions", "users")
#: columns a lake export carries besides the contract: the hive partition column of the views
IGNORED_COLUMNS = frozenset({"date"})
_TIME_FIELDS = {"event_time", "bid_time", "start_time", "end_time", "signup_time"}
_MONEY_FIELDS = {"amount", "start_price", "reserve_price", "final_price"}
_SHORT_OFFSET = re.compile(r"\d[+-]\d\d$")
#: text fields where "NA" and the like are real values (ISO 3166: NA is Namibia)
_LITERAL_FIELDS = frozenset({"country"})


def contract_columns(topic: str) -> tuple[list[str], list[str]]:
    """(required, allowed) column names for a topic: fields without a default are required."""
    fields = TOPIC_MODELS[topic].model_fields
    allowed = list(fields)
    required = [name for name, info in fields.items() if info.is_required()]
    return required, allowed


def validate_rows(topic: str, rows: Iterable[Row | Reject]) -> Iterator[tuple[int, Event] | Reject]:
    """Each row as ``(row number, validated event)`` of the topic's contract, or a reject saying why not."""
    model = TOPIC_MODELS[topic]
    kinds = _field_kinds(model)
    for item in rows:
        if isinstance(item, Reject):
            yield item
            continue
        number, values = item
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if _ignored(key):
                continue
            kind = kinds.get(key, "required")
            if kind == "optional" and is_missing(value, money=key in _MONEY_FIELDS):
                continue  # the field's default (null)
            clean[key] = _clean(key, value, kind)
        try:
            yield number, model.model_validate(clean)
        except ValidationError as exc:
            yield reject_for(number, exc, values)


def _ignored(column: str) -> bool:
    return column.startswith("_") or column in IGNORED_COLUMNS


def reject_for(number: int, exc: ValidationError, values: Any) -> Reject:
    """A reject for a row whose validation failed: the first problem, classified, on one line."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in error["loc"]) or "row"
    value = error.get("input")
    rule = _rule(field, error["type"], value)
    if rule == "missing_value":
        return Reject(number, rule, f"{field}: missing or empty", raw_text(values))
    message = error["msg"].removeprefix("Value error, ")
    return Reject(number, rule, f"{field}: {message} (got {value!r})", raw_text(values))


def _rule(field: str, kind: str, value: Any) -> str:
    if kind == "missing" or (value is None and kind.endswith("_type")) or (kind == "string_too_short" and not value):
        return "missing_value"
    if kind == "extra_forbidden":
        return "bad_row"
    if field in _TIME_FIELDS:
        return "bad_date"
    if kind in ("greater_than", "greater_than_equal") and field in _MONEY_FIELDS:
        return "negative_amount" if _is_negative(value) else "zero_amount"
    if any(word in kind for word in ("decimal", "float", "int", "finite", "digits")):
        return "bad_number"
    return "bad_value"


def _is_negative(value: Any) -> bool:
    try:
        return float(value) < 0
    except (TypeError, ValueError):
        return False


def _field_kinds(model: type[Event]) -> dict[str, str]:
    """Per field: ``optional`` (has a default), ``empty_ok`` (text where "" is valid), ``literal`` (text
    where every marker but blank is a real value: ``country``) or ``required``."""
    kinds: dict[str, str] = {}
    for field in arrow_schema(model):
        info = model.model_fields[field.name]
        if not info.is_required():
            kinds[field.name] = "optional"
        elif field.name in _LITERAL_FIELDS:
            kinds[field.name] = "literal"
        elif pa.types.is_string(field.type) and _accepts_empty(info.rebuild_annotation()):
            kinds[field.name] = "empty_ok"
    return kinds


def _accepts_empty(annotation: Any) -> bool:
    try:
        TypeAdapter(annotation).validate_python("")
    except ValidationError:
        return False
    return True


def _clean(field: str, value: Any, kind: str) -> Any:
    """A missing value as the field takes it ("" in text that may be empty, else None for the contract to
    reject); ``+00`` offsets (PostgreSQL/DuckDB text output) become ISO ``+00:00``."""
    if kind == "empty_ok":
        return "" if is_missing(value) else value
    if kind == "literal":
        return None if value is None or (isinstance(value, str) and not value.strip()) else value
    if is_missing(value, money=field in _MONEY_FIELDS):
        return None
    if not isinstance(value, str):
        return value
    if field in _TIME_FIELDS and _SHORT_OFFSET.search(value):
        return value + ":00"
    return value
