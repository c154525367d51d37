"""Field types the payload models share beyond models.base: optional strings, identifiers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, StringConstraints


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


def optional_text(max_length: int) -> object:
    """An optional, stripped string of at most ``max_length`` characters (ICAT's column size)."""
    return Annotated[
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=max_length)] | None,
        BeforeValidator(blank_to_none),
    ]


OptionalText = optional_text(255)
#: ICAT's long text columns (summary, description of some entities).
LongText = optional_text(4000)

#: A proposal number or visit id: required text, numbers accepted.
Identifier = Annotated[
    str,
    BeforeValidator(number_to_text),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
]
