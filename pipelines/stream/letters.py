"""Dead letters that always fit the broker: the topic gets what fits, the lake keeps the whole raw value.

A dead letter carries its input's raw value, so an input just under the broker's message limit makes a
letter over it (base64 adds a third, JSON escaping up to six bytes per character). :func:`fit_letter`
cuts such a letter to a byte budget: the raw value becomes its longest prefix that fits (whole base64
quanta), a long key or error is shortened too, and ``truncated`` says so; ``raw_size`` and
``raw_sha256`` always describe the whole value, so the cut letter still identifies it. The bronze row
is built from the letter before the cut (:class:`pipelines.stream.Processor`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from pipelines.contracts import DeadLetter

#: bytes a record needs beyond its key, value and headers in the producer's size check (librdkafka counts
#: a record batch header and the record's framing: ~100 bytes), with room to spare
RECORD_OVERHEAD = 512
#: a cut letter's key (message key bytes and the ``key`` field's characters) and error are at most this long
KEY_MAX, ERROR_MAX = 1024, 4096
#: the smallest budget a letter can be cut to (a letter with an empty raw value always fits it)
MIN_BUDGET = 64 * 1024


def output_budget(producer_max: int, topic_max: int | None = None) -> int:
    """Bytes of key + value (+ headers) one output may take: the smaller limit less the record overhead."""
    limit = producer_max if topic_max is None else min(producer_max, topic_max)
    return limit - RECORD_OVERHEAD


def raw_text(value: bytes | None) -> tuple[str, str]:
    """The raw value as text when it is UTF-8, else base64: ``(text, encoding)``."""
    if value is None:
        return "", "utf-8"
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


def raw_facts(value: bytes | None) -> tuple[int | None, str | None]:
    """``(raw_size, raw_sha256)`` of a raw value (``None, None`` for no value)."""
    if value is None:
        return None, None
    return len(value), hashlib.sha256(value).hexdigest()


def letter_json(fields: dict[str, Any]) -> bytes:
    """The letter's wire form (the contract's JSON)."""
    return DeadLetter.model_construct(**fields).model_dump_json().encode()


def _cut_bytes(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of ``data``, not splitting a UTF-8 character when ``data`` is UTF-8."""
    head = data[:limit]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return head
    return head.decode("utf-8", "ignore").encode("utf-8")


def fit_letter(fields: dict[str, Any], key: bytes | None, budget: int) -> tuple[bytes | None, bytes]:
    """``(message key, value)`` of the letter with ``fields``, together at most ``budget`` bytes.

    Unchanged when it fits; else key and error are shortened to :data:`KEY_MAX`/:data:`ERROR_MAX` and the
    raw value to its longest prefix that fits (found by bisection on the real serializer, so escaping is
    counted exactly; a base64 value keeps whole 4-character quanta, so the prefix still decodes).
    """
    value = letter_json(fields)
    if len(value) + len(key or b"") <= budget:
        return key, value
    if budget < MIN_BUDGET:
        raise ValueError(f"a dead letter cannot be cut to {budget} bytes (at least {MIN_BUDGET})")
    cut = dict(fields, truncated=True)
    if key is not None and len(key) > KEY_MAX:
        key = _cut_bytes(key, KEY_MAX)
    if cut.get("key") is not None and len(cut["key"]) > KEY_MAX:
        cut["key"] = cut["key"][:KEY_MAX]
    if len(cut["error"]) > ERROR_MAX:
        cut["error"] = cut["error"][:ERROR_MAX]
    room = budget - len(key or b"")
    text: str = cut["raw_value"]
    step = 4 if cut["encoding"] == "base64" else 1
    low, high = 0, len(text) // step  # prefix lengths in steps: low always fits, high + 1 never does
    best = letter_json({**cut, "raw_value": ""})
    while low < high:
        middle = (low + high + 1) // 2
        candidate = letter_json({**cut, "raw_value": text[: middle * step]})
        if len(candidate) <= room:
            low, best = middle, candidate
        else:
            high = middle - 1
    return key, best
