"""Conversions between query literals, stored SQLite values and Python results."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from testbox.errors import IcatError
from testbox.model import BASE_ATTRIBUTES, Bean, Entity
from testbox.store import decode_date, encode_date

#: Types of the attributes every entity has (EntityBaseBean).
BASE_TYPES = {"id": "Long", "createId": "String", "createTime": "Date", "modId": "String",
              "modTime": "Date"}
assert tuple(BASE_TYPES) == BASE_ATTRIBUTES

NUMERIC = ("Integer", "Long", "Double")

# What a string compared with a date may look like: a date, optionally a time (with
# optional seconds and fraction, 'T' or blank between) and an optional zone.
_DATE_TEXT = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*"
)


def date_literal(text: str) -> str:
    """Normalise a string compared with a date column to the storage form.

    Databases behind real ICAT accept '2012-01-01', '2012-01-01 00:00:00' and the like.
    """
    m = _DATE_TEXT.fullmatch(text)
    if m is None:
        raise IcatError("BAD_PARAMETER", f"'{text[:100]}' cannot be compared with a date")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                         int(second or 0), int((fraction or "0")[:6].ljust(6, "0")))
        if zone:
            value = datetime.fromisoformat(value.isoformat() + ("+00:00" if zone == "Z" else zone))
        return encode_date(value)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01 00:00+01:00 is in year 0 in UTC
        raise IcatError("BAD_PARAMETER", f"'{text[:100]}' is not a valid date") from None


def decode(value: Any, type_: str) -> Any:
    """A stored value as the Python value of an attribute of type ``type_``."""
    if value is None:
        return None
    if type_ == "Date":
        return decode_date(value)
    if type_ == "boolean":
        return bool(value)
    if type_ in ("Integer", "Long"):
        return int(value)
    if type_ == "Double":
        return float(value)
    return value


def attribute_types(entity: Entity) -> dict[str, str]:
    """Every attribute of ``entity`` (base ones first) with its type."""
    return {**BASE_TYPES, **{a.name: a.type for a in entity.attributes}}


def make_bean(entity: Entity, row: dict[str, Any]) -> Bean:
    """A Bean with all attributes of a stored row and no relations loaded."""
    return Bean(entity.name, {name: decode(row[name], type_)
                              for name, type_ in attribute_types(entity).items()})


def like_to_glob(pattern: str, escape: str | None) -> str:
    """Translate a LIKE pattern to a GLOB pattern, which SQLite matches case-sensitively.

    JPQL's LIKE is case-sensitive, SQLite's is not; GLOB is, and its matcher is safe
    against patterns built to backtrack.
    """
    if escape is not None and len(escape) != 1:
        raise IcatError("BAD_PARAMETER", "ESCAPE must be a single character")
    out = []
    chars = iter(pattern)
    for ch in chars:
        if ch == escape:
            ch = next(chars, None)
            if ch is None:
                raise IcatError("BAD_PARAMETER", "LIKE pattern ends with its escape character")
            out.append(_glob_literal(ch))
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append(_glob_literal(ch))
    return "".join(out)


def _glob_literal(ch: str) -> str:
    return f"[{ch}]" if ch in "*?[" else ch
