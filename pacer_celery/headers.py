"""AMQP headers as JSON and back, losslessly, for the journal.

A header table may hold what JSON cannot: bytes (py-amqp hands over undecodable strings,
and keys, as bytes), timestamps, decimals. The journal keeps a producer's headers so that
a dead letter built from it carries them exactly as sent, so those values are tagged::

    b"\\xff"                → {"$bytes": "/w=="}
    datetime(...)           → {"$time": "2026-12-01T10:00:00"}
    Decimal("1.5")          → {"$decimal": "1.5"}
    {b"\\xff": 1} (a key that is not text, or one starting with "$")
                            → {"$table": [[{"$bytes": "/w=="}, 1]]}
"""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal
from typing import Any

#: Deeper tables are refused by the envelope; this bound keeps encoding itself safe.
MAX_DEPTH = 64


def to_json(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"headers nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        return {"$time": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: to_json(v, depth + 1) for k, v in value.items()}
        return {"$table": [[to_json(k, depth + 1), to_json(v, depth + 1)] for k, v in value.items()]}
    return str(value)


def from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "$bytes":
            return base64.b64decode(inner)
        if tag == "$time":
            return datetime.fromisoformat(inner)
        if tag == "$decimal":
            return Decimal(inner)
        if tag == "$table":
            return {from_json(k): from_json(v) for k, v in inner}
    return {k: from_json(v) for k, v in value.items()}


def depth(value: Any) -> int:
    """How deeply tables and arrays nest in ``value``, counted without recursion (a
    hostile header may nest thousands deep)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            pending.extend((v, level + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend((v, level + 1) for v in item)
    return deepest
