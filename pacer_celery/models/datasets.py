"""The ``dataset-ingestion`` message (JSON and legacy XML) and ``datafile-ingestion``.

List limits (module constants), so that one message keeps a bridge busy for a bounded time
(validation is linear in the message's size): at most MAX_PARAMETERS parameters and
MAX_DATAFILES datafiles per message. A dataset of 10 000 files is an ordinary message.
Datafile names are unique within a message, and its datafiles' sizes add up to at most
ICAT's largest ``fileSize`` (2^63-1): finalize stores that sum on the Dataset.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, PlainValidator, model_validator
from pydantic_core import PydanticCustomError

from pacer_celery.errors import InvalidMessage
from pacer_celery.models.base import PacerModel
from pacer_celery.models.fields import (
    ICAT_LONG_STRING,
    ICAT_MAX_LONG,
    ICAT_STRING,
    Flag,
    Identifier,
    Location,
    OptionalText,
    Text,
    Timestamp,
    WholeNumber,
    fits,
    optional_text,
    storable,
)

#: Parameters of one dataset; a facility's parameter types number in the hundreds.
MAX_PARAMETERS = 1000
#: Datafiles of one message; larger acquisitions stream theirs in datafile-ingestions.
MAX_DATAFILES = 100_000


class Sample(PacerModel):
    name: Text


def _parameter_value(value: object) -> int | float | str:
    """A number or non-empty text; which column it goes to is the ParameterType's business."""
    if isinstance(value, bool):
        raise PydanticCustomError("parameter_value", "Input should be a number or text, not a boolean")
    if isinstance(value, int):
        if abs(value) > sys.float_info.max:
            raise PydanticCustomError(
                "parameter_value", "Number is beyond ICAT's numeric values (64-bit floating point)"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("parameter_value", "Input should be a finite number, not NaN or Infinity")
        return value
    if isinstance(value, str):
        text = storable(value).strip()
        if not text:
            raise PydanticCustomError("parameter_value", "Text should have at least 1 character")
        return fits(ICAT_LONG_STRING)(text)
    raise PydanticCustomError("parameter_value", "Input should be a number or text")


class Parameter(PacerModel):
    """A parameter value; how it is stored depends on its ICAT ParameterType's valueType.

    Values stay as sent (a number or text): XML sends ``"8.5"`` where JSON sends ``8.5``,
    and both are read by the type's valueType when the parameter is written.
    """

    name: Text
    units: OptionalText = None
    value: Annotated[int | float | str, PlainValidator(_parameter_value)]


class Datafile(PacerModel):
    #: The path relative to the dataset, unique within it.
    name: Text
    location: Location = None
    size: WholeNumber | None = None
    checksum: OptionalText = None
    #: A DatafileFormat name, or ``name/version`` (each an ICAT column of 255).
    format: optional_text(2 * ICAT_STRING + 1) = None
    created: Timestamp | None = None
    modified: Timestamp | None = None


def _checked_datafiles(datafiles: list[Datafile]) -> list[Datafile]:
    first: dict[str, int] = {}
    for index, datafile in enumerate(datafiles):
        earlier = first.setdefault(datafile.name, index)
        if earlier != index:
            raise PydanticCustomError(
                "unique_datafiles",
                "datafile {name} appears more than once (datafiles.{earlier} and datafiles.{index})",
                {"name": repr(datafile.name), "earlier": earlier, "index": index},
            )
    total = sum(d.size or 0 for d in datafiles)
    if total > ICAT_MAX_LONG:
        raise PydanticCustomError(
            "datafile_sizes",
            "the datafiles' sizes add up to {total} bytes, beyond ICAT's largest fileSize ({limit})",
            {"total": total, "limit": ICAT_MAX_LONG},
        )
    return datafiles


def _unique_parameters(parameters: list[Parameter]) -> list[Parameter]:
    counts = Counter((p.name, p.units) for p in parameters)
    twice = sorted(f"{name} [{units or '-'}]" for (name, units), n in counts.items() if n > 1)
    if twice:
        raise PydanticCustomError(
            "unique_parameters", "given more than once: {names}", {"names": ", ".join(twice)}
        )
    return parameters


Datafiles = Annotated[list[Datafile], Field(max_length=MAX_DATAFILES), AfterValidator(_checked_datafiles)]
Parameters = Annotated[list[Parameter], Field(max_length=MAX_PARAMETERS), AfterValidator(_unique_parameters)]


class DatafileMessage(PacerModel):
    """Files added to an existing dataset (``datafile-ingestion``)."""

    instrument: Text
    proposal: Identifier
    visit: Identifier | None = None
    dataset: Text
    datafiles: Datafiles = []
    #: Left as it is in ICAT when not given.
    complete: Flag | None = None


class DatasetMessage(PacerModel):
    """A dataset acquired on an instrument (``dataset-ingestion``)."""

    instrument: Text
    proposal: Identifier
    visit: Identifier | None = None
    dataset: Text
    type: Text = "raw"
    #: Dataset.description is one of ICAT's 255-character columns.
    description: OptionalText = None
    location: Location = None
    start_date: Timestamp
    end_date: Timestamp | None = None
    complete: Flag = True
    sample: Sample | None = None
    parameters: Parameters = []
    datafiles: Datafiles = []

    xml_root: ClassVar[str | None] = "dataset"

    @model_validator(mode="after")
    def _check(self) -> DatasetMessage:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self

    @classmethod
    def xml_lists(cls) -> tuple[str, ...]:
        return ("parameter", "datafile")

    @classmethod
    def from_xml(cls, document: dict[str, Any]) -> dict[str, Any]:
        """The legacy ``<dataset>`` document in the JSON shape (see messages.md)."""
        if not isinstance(document, dict):
            raise InvalidMessage("XML <dataset> must hold elements, not only text")
        renamed = {
            "investigation": "proposal",
            "name": "dataset",
            "startDate": "start_date",
            "endDate": "end_date",
            "parameter": "parameters",
            "datafile": "datafiles",
        }
        converted: dict[str, Any] = {}
        for key, value in document.items():
            if key.startswith("@"):
                continue  # attributes: only @complete means something, handled below
            if key in ("description", "comment"):
                continue
            converted[renamed.get(key, key)] = value
        # Older DAQs wrote <comment> where newer ones write <description>; prefer the latter.
        description = document.get("description") or document.get("comment")
        if description is not None:
            converted["description"] = description
        if "@complete" in document:
            converted["complete"] = document["@complete"]
        return converted
