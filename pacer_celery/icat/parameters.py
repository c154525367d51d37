"""Message parameters as ICAT parameter values: the ParameterType they belong to and the
value column its valueType says (NUMERIC → numericValue, STRING → stringValue,
DATE_AND_TIME → dateTimeValue)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import icat

from pacer_celery.errors import PermanentError
from pacer_celery.icat import reference
from pacer_celery.models.datasets import Parameter


@dataclass(frozen=True)
class ResolvedParameter:
    type: Any
    #: numericValue, stringValue and dateTimeValue: the one the type uses, the others None.
    values: dict[str, Any]


def resolve(
    client: icat.Client, parameters: list[Parameter], *, strict: bool
) -> tuple[list[ResolvedParameter], list[str]]:
    """The parameters with their types and values, and the ones skipped as unknown
    (only when not ``strict``; strict, an unknown type is a PermanentError)."""
    resolved, skipped = [], []
    for parameter in parameters:
        label = _label(parameter)
        ptype = reference.parameter_type(client, parameter.name, parameter.units)
        if ptype is None:
            if strict:
                raise PermanentError(
                    f"unknown parameter type {label} (PACER_STRICT_PARAMETERS is on; "
                    "reference data: pacer icat init-reference)"
                )
            skipped.append(label)
            continue
        resolved.append(ResolvedParameter(ptype, value_columns(ptype.valueType, parameter.value, label)))
    return resolved, skipped


def value_columns(value_type: str, value: int | float | str, label: str) -> dict[str, Any]:
    """The value in its column for ``value_type``; PermanentError when it does not fit."""
    columns: dict[str, Any] = {"numericValue": None, "stringValue": None, "dateTimeValue": None}
    if value_type == "NUMERIC":
        columns["numericValue"] = _number(value, label)
    elif value_type == "STRING":
        # A number for a STRING type is kept as its text, as XML would have sent it.
        columns["stringValue"] = value if isinstance(value, str) else str(value)
    elif value_type == "DATE_AND_TIME":
        columns["dateTimeValue"] = _timestamp(value, label)
    else:
        raise PermanentError(f"parameter {label}: ICAT value type {value_type!r} is not supported")
    return columns


def _number(value: int | float | str, label: str) -> float:
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise PermanentError(f"parameter {label}: {value!r} is not a number (its type is NUMERIC)") from None
    if not math.isfinite(number):
        raise PermanentError(f"parameter {label}: {value!r} is not a finite number")
    return number


def _timestamp(value: int | float | str, label: str) -> datetime:
    if not isinstance(value, str):
        raise PermanentError(f"parameter {label}: {value!r} is not a timestamp (its type is DATE_AND_TIME)")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PermanentError(f"parameter {label}: {value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise PermanentError(f"parameter {label}: timestamp {value!r} has no timezone")
    return moment.astimezone(UTC)


def _label(parameter: Parameter) -> str:
    return f"{parameter.name!r}" + (f" [{parameter.units}]" if parameter.units else "")
