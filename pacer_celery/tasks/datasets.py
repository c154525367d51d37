"""``dataset-ingestion`` and ``datafile-ingestion``: datasets, their datafiles (in chunks),
their parameters and their file counts.

dataset-ingestion runs create_dataset → register_datafiles → upsert_parameters →
finalize; datafile-ingestion runs add_datafiles → finalize on an existing dataset. Every
step is idempotent: a redelivered or replayed message converges.

The first step finds the dataset; the later ones take its id from ``earlier`` (the
results of the message's earlier steps) rather than searching for it again. Called on
their own (tests, scripts), they look it up themselves.

A dataset the first step created has no datafiles or parameters but this message's:
the later steps then create theirs without asking ICAT which exist (``create_new``).
Should some exist after all (the step ran before, up to a worker's death), ICAT refuses
the atomic ``createMany`` and the step takes the careful path of compare and update.
Such a dataset is created with the file count and size of the message's datafiles, so
that ``finalize``, counting them in ICAT, usually finds nothing to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import icat

from pacer_celery.errors import PermanentError, TransientError
from pacer_celery.icat import parameters, reference
from pacer_celery.icat.beans import BeanMaker, new
from pacer_celery.icat.changes import create_new, reference_to, update_changed
from pacer_celery.icat.query import query, search, search_in, search_one
from pacer_celery.models.datasets import Datafile, DatafileMessage, DatasetMessage
from pacer_celery.settings import get_settings
from pacer_celery.worker import step

DatasetRef = DatasetMessage | DatafileMessage
Earlier = Mapping[str, Any]


@step("datasets.create_dataset")
def create_dataset(message: DatasetMessage, client: icat.Client) -> dict[str, Any]:
    """The Dataset exists with the message's values, its Sample and a DatasetInstrument.

    All reference data the message names (instrument, types, formats, parameter types)
    is checked first, so a message that can never be ingested changes nothing in ICAT.
    """
    instrument, dataset_type = _checked_reference(client, message)
    investigation = find_investigation(client, message)
    sample = _ensure_sample(client, investigation, message.sample.name) if message.sample else None
    dataset, created, changed = _upsert_dataset(client, investigation, message, dataset_type, sample, instrument)
    return {
        "investigation": f"{investigation.name}/{investigation.visitId}",
        "dataset": message.dataset,
        "dataset_id": dataset.id,
        "created": created,
        "changed": changed,
        "ignored_fields": message.ignored_fields,
        **({"file_totals": _message_totals(message)} if created else {}),
    }


@step("datasets.register_datafiles")
def register_datafiles(
    message: DatasetMessage, client: icat.Client, earlier: Earlier | None = None, chunk_size: int | None = None
) -> dict[str, int]:
    """The message's datafiles exist in the dataset (new ones created, changed ones updated)."""
    dataset_id = _dataset_id(client, message, earlier)
    return _register(client, dataset_id, message.datafiles, chunk_size, new_dataset=_created(earlier))


@step("datasets.upsert_parameters")
def upsert_parameters(
    message: DatasetMessage, client: icat.Client, earlier: Earlier | None = None, strict: bool | None = None
) -> dict[str, Any]:
    """The dataset has the message's parameters, one DatasetParameter per type."""
    strict = get_settings().strict_parameters if strict is None else strict
    resolved, skipped = parameters.resolve(client, message.parameters, strict=strict)
    dataset_id = _dataset_id(client, message, earlier)
    new_parameter = BeanMaker(client, "DatasetParameter")
    in_dataset = BeanMaker(client, "Dataset")(id=dataset_id)

    def created(parameter: parameters.ResolvedParameter) -> Any:
        return new_parameter(dataset=in_dataset, type=reference_to(client, parameter.type), **parameter.values)

    if _created(earlier) and create_new(client, [created(p) for p in resolved]):
        return {"created": len(resolved), "updated": 0, "unchanged": 0, "skipped_unknown_types": skipped}
    existing = {
        row.type.id: row
        for row in search(client, "DatasetParameter", where={"dataset.id": dataset_id}, includes=["type"])
    }
    fresh, updated = [], 0
    for parameter in resolved:
        row = existing.get(parameter.type.id)
        if row is None:
            fresh.append(created(parameter))
        else:
            # An update needs the row's ONE relations, or ICAT sets them to null.
            row.dataset = in_dataset
            if update_changed(row, parameter.values):
                updated += 1
    if fresh:
        client.createMany(fresh)
    return {
        "created": len(fresh),
        "updated": updated,
        "unchanged": len(resolved) - len(fresh) - updated,
        "skipped_unknown_types": skipped,
    }


@step("datasets.finalize")
def finalize(message: DatasetMessage, client: icat.Client, earlier: Earlier | None = None) -> dict[str, Any]:
    """The dataset's fileCount and fileSize are those of its datafiles in ICAT."""
    dataset_id = _known_id(earlier)
    created_with = _created_with(earlier)
    if dataset_id is not None and created_with is not None:
        # Created by this message with its files' totals. The same number of files in it
        # now means they are exactly this message's, with the sizes it gave them: PACER
        # never deletes a file, and a datafile-ingestion that changed a size runs its own
        # finalize after. So one COUNT, and neither the sum nor the dataset to fetch.
        if _file_count(client, dataset_id) == created_with["fileCount"]:
            return {"dataset": message.dataset, "changed": [], **created_with}
    return _finalize(client, _dataset(client, message, dataset_id), complete=None)


@step("datafiles.add_datafiles")
def add_datafiles(
    message: DatafileMessage, client: icat.Client, chunk_size: int | None = None
) -> dict[str, Any]:
    """datafile-ingestion's files join their (existing) dataset."""
    # Reference data first: a message that can never succeed should not wait for its dataset.
    reference.instrument(client, message.instrument)
    _formats(client, message.datafiles)
    dataset = _dataset(client, message, None)
    return {"dataset_id": dataset.id, **_register(client, dataset.id, message.datafiles, chunk_size)}


@step("datafiles.finalize")
def finalize_datafiles(message: DatafileMessage, client: icat.Client, earlier: Earlier | None = None) -> dict[str, Any]:
    """Counts as in ``finalize``, and the dataset's ``complete`` when the message gives it."""
    dataset = _dataset(client, message, _known_id(earlier))
    return _finalize(client, dataset, complete=message.complete)


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


def _checked_reference(client: icat.Client, message: DatasetMessage) -> tuple[Any, Any]:
    """The instrument and dataset type, once every name the message uses is known."""
    instrument = reference.instrument(client, message.instrument)
    dataset_type = reference.dataset_type(client, message.type)
    _formats(client, message.datafiles)
    parameters.resolve(client, message.parameters, strict=get_settings().strict_parameters)
    return instrument, dataset_type


def _upsert_dataset(
    client: icat.Client, investigation: Any, message: DatasetMessage, dataset_type: Any, sample: Any,
    instrument: Any,
) -> tuple[Any, bool, list[str]]:
    """The dataset with every field the message sets (omitted ones become null), linked
    to the instrument."""
    wanted = {
        "type": reference_to(client, dataset_type),
        "description": message.description,
        "location": message.location,
        "startDate": message.start_date,
        "endDate": message.end_date,
        "complete": message.complete,
        "sample": None if sample is None else reference_to(client, sample),
    }
    dataset = _find_dataset(client, investigation, message.dataset)
    if dataset is None:
        dataset = new(
            client, "Dataset", investigation=reference_to(client, investigation), name=message.dataset, **wanted,
            **_message_totals(message),
        )
        # ICAT creates a new object's MANY children with it: one call, not a create and a search.
        dataset.datasetInstruments = [new(client, "DatasetInstrument", instrument=reference_to(client, instrument))]
        dataset.create()
        return dataset, True, sorted(wanted)
    changed = update_changed(dataset, wanted)
    _link_instrument(client, dataset, instrument)
    return dataset, False, changed


def _link_instrument(client: icat.Client, dataset: Any, instrument: Any) -> None:
    linked = search_one(
        client, "DatasetInstrument", where={"dataset.id": dataset.id, "instrument.id": instrument.id}
    )
    if linked is None:
        new(client, "DatasetInstrument", dataset=reference_to(client, dataset),
            instrument=reference_to(client, instrument)).create()


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


def _created(earlier: Earlier | None) -> bool:
    """Whether an earlier step of this message created its dataset."""
    return _created_with(earlier) is not None


def _message_totals(message: DatasetMessage) -> dict[str, int]:
    """The file count and size the message's datafiles add up to (ICAT's SUM skips nulls)."""
    return {"fileCount": len(message.datafiles), "fileSize": sum(d.size or 0 for d in message.datafiles)}


def _created_with(earlier: Earlier | None) -> dict[str, int] | None:
    """The file totals an earlier step of this message created the dataset with."""
    for result in (earlier or {}).values():
        if isinstance(result, Mapping) and result.get("created") is True and isinstance(result.get("file_totals"), Mapping):
            return dict(result["file_totals"])
    return None


def _known_id(earlier: Earlier | None) -> int | None:
    """The dataset's id as an earlier step of this message found it."""
    for result in (earlier or {}).values():
        if isinstance(result, Mapping) and isinstance(result.get("dataset_id"), int):
            return result["dataset_id"]
    return None


def _dataset_id(client: icat.Client, message: DatasetRef, earlier: Earlier | None) -> int:
    known = _known_id(earlier)
    return known if known is not None else _dataset(client, message, None).id


def _dataset(client: icat.Client, message: DatasetRef, dataset_id: int | None) -> Any:
    """The message's dataset with its ONE relations (ready to be updated)."""
    if dataset_id is not None:
        found = search_one(client, "Dataset", where={"id": dataset_id}, includes="1")
        if found is not None:
            return found
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
        dataset = _find_dataset(client, find_investigation(client, message), message.dataset)
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
        sample = new(client, "Sample", investigation=reference_to(client, investigation), name=name)
        sample.create()
    return sample


def _formats(client: icat.Client, datafiles: Sequence[Datafile]) -> dict[str, Any]:
    """The DatafileFormats the datafiles name, by the text they name them with."""
    specs = dict.fromkeys(d.format for d in datafiles if d.format)
    return {spec: reference.datafile_format(client, spec) for spec in specs}


def _register(
    client: icat.Client, dataset_id: int, datafiles: Sequence[Datafile], chunk_size: int | None, *,
    new_dataset: bool = False,
) -> dict[str, int]:
    """Create or update ``datafiles`` in the dataset, ``chunk_size`` at a time; none deleted.

    ``new_dataset``: the dataset was created by this message, so a chunk is first created
    as it is, without a search for the files that exist."""
    size = chunk_size or get_settings().icat_chunk_size
    formats = {spec: reference_to(client, f) for spec, f in _formats(client, datafiles).items()}
    in_dataset = BeanMaker(client, "Dataset")(id=dataset_id)
    new_datafile = BeanMaker(client, "Datafile")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for start in range(0, len(datafiles), size):
        chunk = datafiles[start : start + size]
        if new_dataset:
            beans = [new_datafile(dataset=in_dataset, name=d.name, **_datafile_attributes(d, formats)) for d in chunk]
            # One atomic call per chunk: a chunk is in ICAT entirely or not at all.
            if create_new(client, beans):
                counts["created"] += len(beans)
                continue
        existing = _existing_datafiles(client, in_dataset, [d.name for d in chunk])
        fresh = []
        for datafile in chunk:
            wanted = _datafile_attributes(datafile, formats)
            current = existing.get(datafile.name)
            if current is None:
                fresh.append(new_datafile(dataset=in_dataset, name=datafile.name, **wanted))
            elif update_changed(current, wanted):
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        if fresh:
            client.createMany(fresh)
            counts["created"] += len(fresh)
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
    # The dataset's lock (journal.ordering) keeps other messages of this dataset from
    # adding files while it counts.
    wanted: dict[str, Any] = _file_totals(client, dataset.id)
    if complete is not None:
        wanted["complete"] = complete
    changed = update_changed(dataset, wanted)
    return {"dataset": str(dataset.name), "changed": changed, **wanted}


def _file_totals(client: icat.Client, dataset_id: int) -> dict[str, int]:
    where = {"dataset.id": dataset_id}
    (size,) = client.search(query(client, "Datafile", attribute="fileSize", aggregate="SUM", where=where))
    return {"fileCount": _file_count(client, dataset_id), "fileSize": int(size or 0)}


def _file_count(client: icat.Client, dataset_id: int) -> int:
    (count,) = client.search(query(client, "Datafile", aggregate="COUNT", where={"dataset.id": dataset_id}))
    return int(count)


def _contains(investigation: Any, moment: datetime) -> bool:
    start, end = investigation.startDate, investigation.endDate
    return start is not None and end is not None and start <= moment <= end


def _span(investigation: Any) -> str:
    start, end = investigation.startDate, investigation.endDate
    return f"{start.isoformat() if start else '?'} to {end.isoformat() if end else '?'}"
