"""``pacer icat init-reference``: the facility's reference data into ICAT, idempotently.

Missing objects are created, differing attributes updated, nothing is deleted: a second
run with the same file changes nothing. Authorisation rules and public steps are
identified by all they say, so they are only ever created (a changed rule is a new rule;
the old one stays until someone deletes it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import icat
import yaml
from pydantic import ValidationError

from pacer_celery.envelope import describe_validation_error
from pacer_celery.icat.changes import update_changed
from pacer_celery.icat.query import search, search_all
from pacer_celery.models.reference import (
    DatafileFormatEntry,
    FacilityEntry,
    InstrumentEntry,
    ParameterTypeEntry,
    PublicStepEntry,
    ReferenceData,
    RuleEntry,
    SampleTypeEntry,
    TypeEntry,
)

APPLICABLE_TO = {
    "investigation": "applicableToInvestigation",
    "dataset": "applicableToDataset",
    "datafile": "applicableToDatafile",
    "sample": "applicableToSample",
    "data_collection": "applicableToDataCollection",
}


class ReferenceFileError(ValueError):
    """The reference file cannot be read or does not follow the format."""


@dataclass
class SectionResult:
    section: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.section}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def read_reference_file(path: Path) -> ReferenceData:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReferenceFileError(f"{path}: {exc}") from None
    try:
        return ReferenceData.model_validate(document)
    except ValidationError as exc:
        problems = describe_validation_error(exc).removeprefix("invalid message: ")
        raise ReferenceFileError(f"{path}: {problems}") from None


def load_reference(
    client: icat.Client, data: ReferenceData, progress: Callable[[str], None] = lambda _: None
) -> list[SectionResult]:
    """Make ICAT hold ``data``; reports each section to ``progress`` as it is done."""
    results = []
    facility, result = _facility(client, data.facility)
    results.append(result)
    progress(str(result))
    sections: list[tuple[str, str, tuple[str, ...], Iterable[Any], Callable[[Any], dict[str, Any]]]] = [
        ("instruments", "Instrument", ("name",), data.instruments, _instrument),
        ("investigation_types", "InvestigationType", ("name",), data.investigation_types, _type),
        ("dataset_types", "DatasetType", ("name",), data.dataset_types, _type),
        ("datafile_formats", "DatafileFormat", ("name", "version"), data.datafile_formats, _format),
        ("parameter_types", "ParameterType", ("name", "units"), data.parameter_types, _parameter_type),
        ("sample_types", "SampleType", ("name", "molecularFormula"), data.sample_types, _sample_type),
    ]
    for section, entity, key, entries, attributes in sections:
        result = _sync(client, facility, section, entity, key, [attributes(e) for e in entries])
        results.append(result)
        progress(str(result))
    for result in (_rules(client, data.rules), _public_steps(client, data.public_steps)):
        results.append(result)
        progress(str(result))
    return results


def _facility(client: icat.Client, entry: FacilityEntry) -> tuple[Any, SectionResult]:
    result = SectionResult("facility")
    wanted = {
        "name": entry.name,
        "fullName": entry.full_name,
        "description": entry.description,
        "url": entry.url,
        "daysUntilRelease": entry.days_until_release,
    }
    found = search(client, "Facility", where={"name": entry.name})
    if not found:
        facility = client.new("Facility", **wanted)
        facility.create()
        result.created += 1
        return facility, result
    (facility,) = found
    if update_changed(facility, wanted):
        result.updated += 1
    else:
        result.unchanged += 1
    return facility, result


def _sync(
    client: icat.Client,
    facility: Any,
    section: str,
    entity: str,
    key: tuple[str, ...],
    wanted: list[dict[str, Any]],
) -> SectionResult:
    result = SectionResult(section)
    existing = {
        tuple(getattr(obj, k) for k in key): obj
        for obj in search_all(client, entity, where={"facility.id": facility.id}, includes="1")
    }
    new = []
    for attributes in wanted:
        obj = existing.get(tuple(attributes[k] for k in key))
        if obj is None:
            new.append(client.new(entity, facility=facility, **attributes))
        elif update_changed(obj, attributes):
            result.updated += 1
        else:
            result.unchanged += 1
    if new:
        client.createMany(new)
        result.created = len(new)
    return result


def _rules(client: icat.Client, entries: list[RuleEntry]) -> SectionResult:
    """The rules not in ICAT yet are created, with their grouping if that is missing too."""
    result = SectionResult("rules")
    existing = {
        (rule.crudFlags, rule.what, rule.grouping.name if rule.grouping else None)
        for rule in search_all(client, "Rule", includes=["grouping"])
    }
    groupings: dict[str, Any] = {}
    new = []
    for entry in entries:
        if (entry.crud_flags, entry.what, entry.grouping) in existing:
            result.unchanged += 1
            continue
        grouping = _grouping(client, entry.grouping, groupings) if entry.grouping else None
        new.append(client.new("Rule", crudFlags=entry.crud_flags, what=entry.what, grouping=grouping))
    if new:
        client.createMany(new)
        result.created = len(new)
    return result


def _grouping(client: icat.Client, name: str, known: dict[str, Any]) -> Any:
    """The Grouping called ``name``, created (without members) if ICAT has none."""
    if name not in known:
        found = search(client, "Grouping", where={"name": name})
        if found:
            known[name] = found[0]
        else:
            known[name] = client.new("Grouping", name=name)
            known[name].create()
    return known[name]


def _public_steps(client: icat.Client, entries: list[PublicStepEntry]) -> SectionResult:
    result = SectionResult("public_steps")
    existing = {(step.origin, step.field) for step in search_all(client, "PublicStep")}
    new = [client.new("PublicStep", origin=e.origin, field=e.field)
           for e in entries if (e.origin, e.field) not in existing]
    result.unchanged = len(entries) - len(new)
    if new:
        client.createMany(new)
        result.created = len(new)
    return result


def _instrument(entry: InstrumentEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "fullName": entry.full_name,
        "description": entry.description,
        "type": entry.type,
        "url": entry.url,
    }


def _type(entry: TypeEntry) -> dict[str, Any]:
    return {"name": entry.name, "description": entry.description}


def _format(entry: DatafileFormatEntry) -> dict[str, Any]:
    return {"name": entry.name, "version": entry.version, "type": entry.type, "description": entry.description}


def _parameter_type(entry: ParameterTypeEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "units": entry.units,
        "valueType": entry.value_type,
        "unitsFullName": entry.units_full_name,
        "description": entry.description,
        "enforced": entry.enforced,
        "minimumNumericValue": entry.minimum_numeric_value,
        "maximumNumericValue": entry.maximum_numeric_value,
        **{attr: kind in entry.applicable_to for kind, attr in APPLICABLE_TO.items()},
    }


def _sample_type(entry: SampleTypeEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "molecularFormula": entry.molecular_formula,
        "safetyInformation": entry.safety_information,
    }
