"""``dataset-ingestion`` and ``datafile-ingestion``: datasets, their datafiles (in chunks),
their parameters and their file counts.

dataset-ingestion runs create_dataset → register_datafiles → upsert_parameters →
finalize; datafile-ingestion runs add_datafiles → finalize_datafiles on an existing
dataset. Every step is idempotent: a redelivered or replayed message converges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import icat

from pacer_celery.errors import PermanentError, TransientError
from pacer_celery.icat import parameters, reference
from pacer_celery.icat.beans import BeanMaker
from pacer_celery.icat.changes import reference_to, update_changed
from pacer_celery.icat.errors import icat_errors
from pacer_celery.icat.query import query, search, search_in, search_one
from pacer_celery.models.datasets import Datafile, DatafileMessage, DatasetMessage
from pacer_celery.settings import get_settings
from pacer_celery.steps import step

DatasetRef = DatasetMessage | DatafileMessage

#: How often finalize recounts when datafiles arrive while it counts.
FINALIZE_ROUNDS = 3


@step("datasets.create_dataset")
@icat_errors
def create_dataset(message: DatasetMessage, icat: icat.Client) -> dict[str, Any]:
    """The Dataset exists with the message's values, its Sample and a DatasetInstrument.

    All reference data the message names (instrument, types, formats, parameter types)
    is checked first, so a message that can never be ingested changes nothing in ICAT.
    """
    instrument = reference.instrument(icat, message.instrument)
    dataset_type = reference.dataset_type(icat, message.type)
    _formats(icat, message.datafiles)
    parameters.resolve(icat, message.parameters, strict=get_settings().strict_parameters)
    investigation = find_investigation(icat, message)
    sample = _ensure_sample(icat, investigation, message.sample.name) if message.sample else None
    wanted = {
        "type": dataset_type,
        "description": message.description,
        "location": message.location,
        "startDate": message.start_date,
        "endDate": message.end_date,
        "complete": message.complete,
        "sample": sample,
    }
    dataset = _find_dataset(icat, investigation, message.dataset)
    if dataset is None:
        dataset = icat.new("Dataset", investigation=investigation, name=message.dataset, **wanted)
        dataset.create()
        created, changed = True, sorted(wanted)
    else:
        created, changed = False, update_changed(dataset, wanted)
    linked = search_one(
        icat, "DatasetInstrument", where={"dataset.id": dataset.id, "instrument.id": instrument.id}
    )
    if linked is None:
        icat.new("DatasetInstrument", dataset=dataset, instrument=instrument).create()
    return {
        "investigation": f"{investigation.name}/{investigation.visitId}",
        "dataset": message.dataset,
        "created": created,
        "changed": changed,
        "ignored_fields": message.ignored_fields,
    }


@step("datasets.register_datafiles")
@icat_errors
def register_datafiles(
    message: DatasetMessage, icat: icat.Client, chunk_size: int | None = None
) -> dict[str, int]:
    """The message's datafiles exist in the dataset (new ones created, changed ones updated)."""
    return _register(icat, _required_dataset(icat, message), message.datafiles, chunk_size)


@step("datasets.upsert_parameters")
@icat_errors
def upsert_parameters(
    message: DatasetMessage, icat: icat.Client, strict: bool | None = None
) -> dict[str, Any]:
    """The dataset has the message's parameters, one DatasetParameter per type."""
    strict = get_settings().strict_parameters if strict is None else strict
    resolved, skipped = parameters.resolve(icat, message.parameters, strict=strict)
    dataset = _required_dataset(icat, message)
    existing = {
        row.type.id: row
        for row in search(icat, "DatasetParameter", where={"dataset.id": dataset.id}, includes="1")
    }
    new, updated = [], 0
    for parameter in resolved:
        row = existing.get(parameter.type.id)
        if row is None:
            new.append(icat.new("DatasetParameter", dataset=dataset, type=parameter.type, **parameter.values))
        elif update_changed(row, parameter.values):
            updated += 1
    if new:
        icat.createMany(new)
    return {
        "created": len(new),
        "updated": updated,
        "unchanged": len(resolved) - len(new) - updated,
        "skipped_unknown_types": skipped,
    }


@step("datasets.finalize")
@icat_errors
def finalize(message: DatasetMessage, icat: icat.Client) -> dict[str, Any]:
    """The dataset's fileCount and fileSize are those of its datafiles in ICAT."""
    return _finalize(icat, _required_dataset(icat, message), complete=None)


@step("datafiles.add_datafiles")
@icat_errors
def add_datafiles(
    message: DatafileMessage, icat: icat.Client, chunk_size: int | None = None
) -> dict[str, int]:
    """datafile-ingestion's files join their (existing) dataset."""
    # Reference data first: a message that can never succeed should not wait for its dataset.
    reference.instrument(icat, message.instrument)
    _formats(icat, message.datafiles)
    return _register(icat, _required_dataset(icat, message), message.datafiles, chunk_size)


@step("datafiles.finalize")
@icat_errors
def finalize_datafiles(message: DatafileMessage, icat: icat.Client) -> dict[str, Any]:
    """Counts as in ``finalize``, and the dataset's ``complete`` when the message gives it."""
    return _finalize(icat, _required_dataset(icat, message), complete=message.complete)


def find_investigation(client: icat.Client, message: DatasetRef) -> Any:
    """The visit the message's dataset belongs to (see messages.md for the rules)."""
    candidates = _visits(client, message)
    if len(candidates) == 1:
        return candidates[0]
    start = getattr(message, "start_date", None)
    if start is not None:
        containing = [c for c in candidates if _contains(c, start)]
        if len(containing) == 1:
            return containing[0]
    listed = ", ".join(f"{c.visitId} ({_span(c)})" for c in candidates)
    raise PermanentError(
        f"proposal {message.proposal} has several visits and the message names none"
        + (f" that contains {start.isoformat()}" if start else "")
        + f": {listed}"
    )


def _visits(client: icat.Client, message: DatasetRef) -> list[Any]:
    where: dict[str, Any] = {"facility.id": reference.facility(client).id, "name": message.proposal}
    if message.visit is not None:
        where["visitId"] = message.visit
    candidates = search(client, "Investigation", where=where)
    if not candidates:
        visit = message.visit if message.visit is not None else "(any visit)"
        raise TransientError(
            f"investigation {message.proposal}/{visit} is not in ICAT yet (waiting for its proposal-update)",
            give_up_after=get_settings().missing_investigation_timeout,
        )
    return candidates


def _required_dataset(client: icat.Client, message: DatasetRef) -> Any:
    if isinstance(message, DatafileMessage) and message.visit is None:
        # No dataset start date to choose a visit by: the visit holding a dataset of
        # that name is the one.
        visits = _visits(client, message)
        found = search(
            client,
            "Dataset",
            where={"investigation.id": [v.id for v in visits], "name": message.dataset},
            includes="1",
        )
        if len(found) > 1:
            listed = ", ".join(sorted(str(d.investigation.visitId) for d in found))
            raise PermanentError(
                f"dataset {message.dataset!r} exists in several visits of proposal {message.proposal} "
                f"({listed}); name the visit"
            )
        dataset = found[0] if found else None
    else:
        investigation = find_investigation(client, message)
        dataset = _find_dataset(client, investigation, message.dataset)
    if dataset is None:
        raise TransientError(
            f"dataset {message.dataset!r} of proposal {message.proposal} is not in ICAT yet "
            "(waiting for its dataset-ingestion)",
            give_up_after=get_settings().missing_investigation_timeout,
        )
    return dataset


def _find_dataset(client: icat.Client, investigation: Any, name: str) -> Any | None:
    return search_one(
        client, "Dataset", where={"investigation.id": investigation.id, "name": name}, includes="1"
    )


def _ensure_sample(client: icat.Client, investigation: Any, name: str) -> Any:
    sample = search_one(client, "Sample", where={"investigation.id": investigation.id, "name": name})
    if sample is None:
        sample = client.new("Sample", investigation=investigation, name=name)
        sample.create()
    return sample


def _formats(client: icat.Client, datafiles: Sequence[Datafile]) -> dict[str, Any]:
    """The DatafileFormats the datafiles name, by the text they name them with."""
    specs = dict.fromkeys(d.format for d in datafiles if d.format)
    return {spec: reference.datafile_format(client, spec) for spec in specs}


def _register(
    client: icat.Client, dataset: Any, datafiles: Sequence[Datafile], chunk_size: int | None
) -> dict[str, int]:
    """Create or update ``datafiles`` in ``dataset``, ``chunk_size`` at a time; none deleted."""
    size = chunk_size or get_settings().icat_chunk_size
    formats = {spec: reference_to(client, f) for spec, f in _formats(client, datafiles).items()}
    in_dataset = reference_to(client, dataset)
    new_datafile = BeanMaker(client, "Datafile")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for start in range(0, len(datafiles), size):
        chunk = datafiles[start : start + size]
        existing = _existing_datafiles(client, in_dataset, [d.name for d in chunk])
        new = []
        for datafile in chunk:
            wanted = _datafile_attributes(datafile, formats)
            current = existing.get(datafile.name)
            if current is None:
                new.append(new_datafile(dataset=in_dataset, name=datafile.name, **wanted))
            elif update_changed(current, wanted):
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        if new:
            # One atomic call per chunk: a chunk is in ICAT entirely or not at all.
            client.createMany(new)
            counts["created"] += len(new)
    return counts


def _existing_datafiles(client: icat.Client, in_dataset: Any, names: list[str]) -> dict[str, Any]:
    """The dataset's datafiles of these names, by name, ready to be compared and updated.

    Their ONE relations are set by id, so that an update keeps them (ICAT nulls the
    relations a bean does not carry). Neither INCLUDE 1 (the dataset would come back
    with every datafile) nor INCLUDE of the format (a whole format bean in every
    datafile doubles the reply suds parses): the formats come as (name, format id)
    pairs, in a second search made only when some datafiles exist.
    """
    where = {"dataset.id": in_dataset.id}
    existing = {d.name: d for d in search_in(client, "Datafile", "name", names, where=where)}
    if not existing:
        return existing
    pairs = search_in(
        client, "Datafile", "name", list(existing), where=where, attribute=["name", "datafileFormat.id"]
    )
    format_ids = dict(pairs)
    in_format = BeanMaker(client, "DatafileFormat")
    for name, datafile in existing.items():
        datafile.dataset = in_dataset
        format_id = format_ids.get(name)
        datafile.datafileFormat = None if format_id is None else in_format(id=format_id)
    return existing


def _datafile_attributes(datafile: Datafile, formats: dict[str, Any]) -> dict[str, Any]:
    """The ICAT attributes the message gives; those it leaves out stay as ICAT has them."""
    attributes = {
        "location": datafile.location,
        "fileSize": datafile.size,
        "checksum": datafile.checksum,
        "datafileCreateTime": datafile.created,
        "datafileModTime": datafile.modified,
        "datafileFormat": formats[datafile.format] if datafile.format else None,
    }
    return {attr: value for attr, value in attributes.items() if value is not None}


def _finalize(client: icat.Client, dataset: Any, complete: bool | None) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    for _ in range(FINALIZE_ROUNDS):
        wanted = _file_totals(client, dataset.id)
        if complete is not None:
            wanted["complete"] = complete
        update_changed(dataset, wanted)
        # Files registered by a concurrent message while we counted would be missed:
        # count again, and stop once the count holds.
        if _file_totals(client, dataset.id) == {k: wanted[k] for k in ("fileCount", "fileSize")}:
            break
    return {"dataset": str(dataset.name), **wanted}


def _file_totals(client: icat.Client, dataset_id: int) -> dict[str, int]:
    where = {"dataset.id": dataset_id}
    (count,) = client.search(query(client, "Datafile", aggregate="COUNT", where=where))
    (size,) = client.search(query(client, "Datafile", attribute="fileSize", aggregate="SUM", where=where))
    return {"fileCount": int(count), "fileSize": int(size or 0)}


def _contains(investigation: Any, moment: datetime) -> bool:
    start, end = investigation.startDate, investigation.endDate
    return start is not None and end is not None and start <= moment <= end


def _span(investigation: Any) -> str:
    start, end = investigation.startDate, investigation.endDate
    return f"{start.isoformat() if start else '?'} to {end.isoformat() if end else '?'}"
