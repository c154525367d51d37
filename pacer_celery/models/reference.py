"""The reference-data file of ``pacer icat init-reference`` (format in messages.md)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, NonNegativeInt, StringConstraints, model_validator

from pacer_celery.models.fields import LongText, OptionalText, Text

Applicable = Literal["investigation", "dataset", "datafile", "sample", "data_collection"]


class _Entry(BaseModel):
    # A typo in a reference file must not pass silently: unknown keys are errors.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class FacilityEntry(_Entry):
    name: Text
    full_name: OptionalText = None
    description: LongText = None
    url: OptionalText = None
    days_until_release: NonNegativeInt | None = None


class InstrumentEntry(_Entry):
    name: Text
    full_name: OptionalText = None
    description: LongText = None
    type: OptionalText = None
    url: OptionalText = None


class TypeEntry(_Entry):
    """An investigation or dataset type."""

    name: Text
    description: OptionalText = None


class DatafileFormatEntry(_Entry):
    name: Text
    version: Text
    type: OptionalText = None
    description: OptionalText = None


class ParameterTypeEntry(_Entry):
    name: Text
    units: Text
    value_type: Literal["NUMERIC", "STRING", "DATE_AND_TIME"]
    units_full_name: OptionalText = None
    description: OptionalText = None
    applicable_to: list[Applicable] = []
    enforced: bool = False
    minimum_numeric_value: float | None = None
    maximum_numeric_value: float | None = None


class SampleTypeEntry(_Entry):
    name: Text
    molecular_formula: Text
    safety_information: LongText = None


class RuleEntry(_Entry):
    """An ICAT authorisation rule: the accesses of ``crud_flags`` on what ``what`` selects
    (concise or JPQL, ``:user`` for the caller), for the members of the Grouping named
    ``grouping``, or for everybody when it is not given."""

    crud_flags: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[CRUDcrud]{1,4}$")]
    what: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
    grouping: OptionalText = None


#: ICAT's PublicStep columns are 32 characters.
_StepName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class PublicStepEntry(_Entry):
    """An ICAT PublicStep: whoever may read an ``origin`` may INCLUDE its ``field`` relation."""

    origin: _StepName
    field: _StepName


class ReferenceData(_Entry):
    facility: FacilityEntry
    instruments: list[InstrumentEntry] = []
    investigation_types: list[TypeEntry] = []
    dataset_types: list[TypeEntry] = []
    datafile_formats: list[DatafileFormatEntry] = []
    parameter_types: list[ParameterTypeEntry] = []
    sample_types: list[SampleTypeEntry] = []
    rules: list[RuleEntry] = []
    public_steps: list[PublicStepEntry] = []

    @model_validator(mode="after")
    def _unique(self) -> ReferenceData:
        sections = {
            "instruments": [(e.name,) for e in self.instruments],
            "investigation_types": [(e.name,) for e in self.investigation_types],
            "dataset_types": [(e.name,) for e in self.dataset_types],
            "datafile_formats": [(e.name, e.version) for e in self.datafile_formats],
            "parameter_types": [(e.name, e.units) for e in self.parameter_types],
            "sample_types": [(e.name, e.molecular_formula) for e in self.sample_types],
            "rules": [(e.crud_flags, e.what, e.grouping or "") for e in self.rules],
            "public_steps": [(e.origin, e.field) for e in self.public_steps],
        }
        for section, keys in sections.items():
            twice = sorted("/".join(k) for k, n in Counter(keys).items() if n > 1)
            if twice:
                raise ValueError(f"{section}: {', '.join(twice)} listed more than once")
        return self
