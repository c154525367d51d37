"""Field types the payload models share: text ICAT can store, identifiers, whole numbers,
flags and timestamps.

ICAT's own limits are checked here, at validation, so that an invalid message is
dead-lettered with a reason naming its field instead of being refused by ICAT mid-chain:

- **Characters.** Values travel to ICAT in SOAP (XML 1.0) and are stored in its database.
  Refused: NUL and the other C0 control characters except tab, newline and carriage return
  (XML 1.0 cannot carry them, not even as ``&#1;``), lone surrogates (not characters: they
  have no UTF-8 form) and the noncharacters U+FFFE and U+FFFF (outside XML's ``Char``).
  Everything else is kept exactly: quotes, ``&amp;``-like text, zero-width and
  right-to-left characters, C1 controls, emoji.
- **Lengths** are counted as ICAT counts them: Java ``String.length()``, UTF-16 code units,
  so a character outside the Basic Multilingual Plane (an emoji) counts two. String columns
  without a declared length are 255 (the JPA default); see ``icat-6.2-entities.txt``.
- **Whole numbers** (datafile sizes) fit ICAT's ``Long``: 0 to 2^63-1. A boolean is never a
  number; text of digits is (the legacy XML sends every value as text).
- **Flags** are JSON booleans, or the text ``true``/``false``/``1``/``0`` (XML Schema's boolean).
- **Timestamps** are ISO 8601 text with a timezone, between 1000-01-01T00:00:00Z and
  9999-12-31T23:59:59.999Z: the range every database behind ICAT stores (MySQL/MariaDB's
  DATETIME is exactly that; Oracle and PostgreSQL store wider ranges). ICAT receives UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

#: ICAT's String columns without a declared length (JPA's default column size).
ICAT_STRING = 255
#: Dataset and Datafile ``location``.
ICAT_LOCATION = 511
#: Investigation ``summary``, parameter ``stringValue`` and other long text columns.
ICAT_LONG_STRING = 4000
#: ICAT's ``Long`` (Java's signed 64-bit integer): datafile and dataset sizes.
ICAT_MAX_LONG = 2**63 - 1
#: The timestamps every database behind ICAT can store (see the module docstring).
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)

# What XML 1.0 (and so ICAT's SOAP) cannot carry, by kind, for the reason given.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _unstorable_kind(character: str) -> str:
    if "\ud800" <= character <= "\udfff":
        return "a lone surrogate, which is not a character and has no UTF-8 form"
    if character in "\ufffe\uffff":
        return "a Unicode noncharacter, which XML cannot carry"
    return "a control character (of those, only tab, newline and carriage return are allowed)"


def storable(value: object) -> object:
    """Refuse text holding characters ICAT cannot receive over SOAP (see the module docstring)."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is not None:
            character = found.group()
            raise PydanticCustomError(
                "icat_character",
                "String has U+{code} at index {index}: {kind}",
                {"code": f"{ord(character):04X}", "index": found.start(), "kind": _unstorable_kind(character)},
            )
    return value


def java_length(text: str) -> int:
    """The length of ``text`` as Java (and so ICAT) counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fits(limit: int):
    """A validator: at most ``limit`` UTF-16 code units, ICAT's column size."""

    def check(value: str | None) -> str | None:
        # Cheap first: only text longer than half the limit can exceed it in UTF-16.
        if value is not None and 2 * len(value) > limit:
            units = java_length(value)
            if units > limit:
                raise PydanticCustomError(
                    "icat_length",
                    "String should have at most {limit} characters as ICAT counts them "
                    "(UTF-16 code units), not {units}",
                    {"limit": limit, "units": units},
                )
        return value

    return check


def blank_to_none(value: object) -> object:
    """Producers send "" as often as null for "no value"; both mean not given."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def number_to_text(value: object) -> object:
    """Proposal and visit ids are text in ICAT, but producers send ``1`` as often as ``"1"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def icat_text(limit: int = ICAT_STRING) -> Any:
    """A required, stripped, non-empty string that fits an ICAT column of ``limit``."""
    # Constraints first, so pydantic builds them into its string schema (and its messages).
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1),
        AfterValidator(fits(limit)),
        BeforeValidator(storable),
    ]


def optional_text(limit: int = ICAT_STRING) -> Any:
    """An optional, stripped string that fits an ICAT column of ``limit``; blank is None."""
    return Annotated[
        Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(fits(limit))] | None,
        BeforeValidator(blank_to_none),
        BeforeValidator(storable),
    ]


#: A required string of ICAT's usual column size.
Text = icat_text()
OptionalText = optional_text()
#: ICAT's long text columns (summary, description of some entities).
LongText = optional_text(ICAT_LONG_STRING)
#: Dataset and Datafile locations (stored verbatim: ``../`` is text like any other).
Location = optional_text(ICAT_LOCATION)

#: A proposal number or visit id: required text, numbers accepted (not booleans or floats).
Identifier = Annotated[Text, BeforeValidator(number_to_text)]


def _whole_number_input(value: object) -> object:
    # Python's bool is an int: without this, ``true`` would pass as 1.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a whole number, not a boolean")
    # 1e30 is a whole number too: as an int, it meets the range check and its message.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A count or size ICAT stores as ``Long``: 0 to 2^63-1; digits as text are accepted (XML).
WholeNumber = Annotated[int, BeforeValidator(_whole_number_input), Field(ge=0, le=ICAT_MAX_LONG)]

_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise PydanticCustomError("bool_type", "Input should be a boolean (true or false)")


#: true/false; in the legacy XML the text ``true``/``false``/``1``/``0``. Numbers are refused.
Flag = Annotated[bool, BeforeValidator(_flag)]


_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?")


def _timestamp_text(value: object) -> object:
    # Pydantic would read a number (or a numeric string) as seconds since 1970: not ISO 8601.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        return value.strip()
    raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 timestamp (text)")


def _storable_moment(value: datetime) -> datetime:
    """``value`` in UTC, if every ICAT database can store it."""
    try:
        moment = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise PydanticCustomError(
            "icat_datetime_range",
            "Timestamp is outside what ICAT's databases store (1000-01-01 to 9999-12-31 UTC): {value}",
            {"value": value.isoformat()},
        )
    return moment


#: An ISO 8601 timestamp that must carry a timezone and fit ICAT; ICAT gets it in UTC.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp_text), AfterValidator(_storable_moment)]

