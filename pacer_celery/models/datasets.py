"""The ``dataset-ingestion`` message (JSON and legacy XML) and ``datafile-ingestion``."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, NonNegativeInt, StrictFloat, StrictInt, StrictStr, model_validator

from pacer_celery.models.base import PacerModel, Text, Timestamp
from pacer_celery.models.fields import Identifier, OptionalText, optional_text

#: ICAT's location columns are 511 characters.
Location = optional_text(511)


class Sample(PacerModel):
    name: Text


class Parameter(PacerModel):
    """A parameter value; how it is stored depends on its ICAT ParameterType's valueType.

    Values stay as sent (a number or text): XML sends ``"8.5"`` where JSON sends ``8.5``,
    and both are read by the type's valueType when the parameter is written.
    """

    name: Text
    units: OptionalText = None
    value: StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=4000)]


class Datafile(PacerModel):
    #: The path relative to the dataset, unique within it.
    name: Text
    location: Location = None
    size: NonNegativeInt | None = None
    checksum: OptionalText = None
    #: A DatafileFormat name, or ``name/version``.
    format: OptionalText = None
    created: Timestamp | None = None
    modified: Timestamp | None = None


def _unique_datafile_names(datafiles: list[Datafile]) -> None:
    seen: set[str] = set()
    for datafile in datafiles:
        if datafile.name in seen:
            raise ValueError(f"datafile {datafile.name!r} appears more than once")
        seen.add(datafile.name)


class DatafileMessage(PacerModel):
    """Files added to an existing dataset (``datafile-ingestion``)."""

    instrument: Text
    proposal: Identifier
    visit: Identifier | None = None
    dataset: Text
    datafiles: list[Datafile] = []
    #: Left as it is in ICAT when not given.
    complete: bool | None = None

    @model_validator(mode="after")
    def _check_datafiles(self) -> DatafileMessage:
        _unique_datafile_names(self.datafiles)
        return self


class DatasetMessage(PacerModel):
    """A dataset acquired on an instrument (``dataset-ingestion``)."""

    instrument: Text
    proposal: Identifier
    visit: Identifier | None = None
    dataset: Text
    type: Text = "raw"
    description: OptionalText = None
    location: Location = None
    start_date: Timestamp
    end_date: Timestamp | None = None
    complete: bool = True
    sample: Sample | None = None
    parameters: list[Parameter] = []
    datafiles: list[Datafile] = []

    xml_root: ClassVar[str | None] = "dataset"

    @model_validator(mode="after")
    def _check(self) -> DatasetMessage:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        _unique_datafile_names(self.datafiles)
        keys = [(p.name, p.units) for p in self.parameters]
        duplicates = sorted({f"{name} [{units or '-'}]" for name, units in keys if keys.count((name, units)) > 1})
        if duplicates:
            raise ValueError(f"parameters given more than once: {', '.join(duplicates)}")
        return self

    @classmethod
    def xml_lists(cls) -> tuple[str, ...]:
        return ("parameter", "datafile")

    @classmethod
    def from_xml(cls, document: dict[str, Any]) -> dict[str, Any]:
        """The legacy ``<dataset>`` document in the JSON shape (see messages.md)."""
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


