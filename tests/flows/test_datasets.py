"""dataset-ingestion and datafile-ingestion against ICAT, step functions called directly."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pacer_celery.envelope import Envelope
from pacer_celery.errors import InvalidMessage, PermanentError, TransientError
from pacer_celery.models.datasets import DatafileMessage, DatasetMessage
from pacer_celery.models.proposals import ProposalMessage
from pacer_celery.tasks import datasets, proposals
from tests.flows.conftest import dataset_message, datafile, proposal_message, run_as_chain

DATASET_STEPS = (
    datasets.create_dataset,
    datasets.register_datafiles,
    datasets.upsert_parameters,
    datasets.finalize,
)


def make_proposal(client, proposal, **fields):
    message = ProposalMessage.model_validate(proposal_message(proposal, **fields))
    proposals.upsert_investigation(message, client=client)
    proposals.sync_instruments(message, client=client)


def ingest(client, document):
    message = DatasetMessage.model_validate(document)
    return [step(message, client=client) for step in DATASET_STEPS]


def add_files(client, document):
    message = DatafileMessage.model_validate(document)
    added = datasets.add_datafiles(message, client=client)
    # The dataset's id is for the next step (finalize); the counts are what the tests check.
    added.pop("dataset_id")
    return [added, datasets.finalize_datafiles(message, client=client)]


def esc(text):
    return text.replace("'", "''")


def dataset(checker, proposal, name="sample1_0001"):
    (found,) = checker.search(
        f"SELECT ds FROM Dataset ds JOIN ds.investigation i WHERE i.name = '{esc(proposal)}' "
        f"AND ds.name = '{esc(name)}' INCLUDE ds.type, ds.sample, ds.investigation"
    )
    return found


def datafiles(checker, dataset_id):
    return {
        d.name: d
        for d in checker.searchChunked(
            f"SELECT df FROM Datafile df JOIN df.dataset ds WHERE ds.id = {dataset_id} "
            "ORDER BY df.id INCLUDE df.datafileFormat",
            chunksize=1000,
        )
    }


def parameters(checker, dataset_id):
    rows = checker.search(
        f"SELECT p FROM DatasetParameter p JOIN p.dataset ds WHERE ds.id = {dataset_id} INCLUDE p.type"
    )
    return {
        (p.type.name, p.type.units): p.numericValue if p.numericValue is not None
        else p.stringValue if p.stringValue is not None else p.dateTimeValue
        for p in rows
    }


def snapshot(checker, proposal, name="sample1_0001"):
    ds = dataset(checker, proposal, name)
    files = datafiles(checker, ds.id)
    return {
        "dataset": {k: getattr(ds, k) for k in (
            "modTime", "description", "location", "startDate", "endDate", "complete",
            "fileCount", "fileSize")},
        "sample": ds.sample.name if ds.sample else None,
        "files": {n: (f.modTime, f.fileSize, f.location, f.checksum) for n, f in files.items()},
        "parameters": parameters(checker, ds.id),
        "instruments": checker.search(
            f"SELECT ins.name FROM DatasetInstrument di JOIN di.dataset ds JOIN di.instrument ins "
            f"WHERE ds.id = {ds.id}"
        ),
        "samples": checker.search(
            f"SELECT s.name FROM Sample s JOIN s.investigation i WHERE i.name = '{esc(proposal)}'"
        ),
    }


def test_dataset_lands_with_files_parameters_and_counts(client, checker, uid):
    proposal = f"D{uid}"
    make_proposal(client, proposal)
    ingest(client, dataset_message(proposal))
    ds = dataset(checker, proposal)
    assert ds.type.name == "raw" and ds.complete is True
    assert ds.description == "Strain map, first position"
    assert ds.startDate == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert ds.sample.name == "sample1"
    files = datafiles(checker, ds.id)
    assert sorted(files) == ["scan_0000.h5", "scan_0001.h5", "scan_0002.h5"]
    first = files["scan_0000.h5"]
    assert (first.fileSize, first.checksum, first.datafileFormat.name) == (1000, "adler32:0a1b2c3d", "HDF5")
    assert first.datafileCreateTime == datetime(2026, 12, 1, 9, 0, 5, tzinfo=UTC)
    assert first.datafileModTime == datetime(2026, 12, 1, 9, 19, 58, tzinfo=UTC)
    assert (ds.fileCount, ds.fileSize) == (3, 3003)
    assert parameters(checker, ds.id) == {("energy", "keV"): 8.5, ("scan_type", "N/A"): "ascan"}
    assert snapshot(checker, proposal)["instruments"] == ["ID01"]


def test_applying_twice_leaves_the_same_state(client, checker, uid):
    proposal = f"I{uid}"
    make_proposal(client, proposal)
    ingest(client, dataset_message(proposal))
    before = snapshot(checker, proposal)
    results = ingest(client, dataset_message(proposal))
    assert snapshot(checker, proposal) == before
    assert results[0]["created"] is False and results[0]["changed"] == []
    assert results[1] == {"created": 0, "updated": 0, "unchanged": 3}


def test_a_new_dataset_skips_the_searches_and_a_step_run_again_converges(client, checker, uid):
    proposal = f"N{uid}"
    make_proposal(client, proposal)
    message = DatasetMessage.model_validate(dataset_message(proposal))
    results = run_as_chain(DATASET_STEPS, message, client)
    assert results["datasets.create_dataset"]["created"] is True
    assert results["datasets.register_datafiles"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert results["datasets.upsert_parameters"]["created"] == 2
    before = snapshot(checker, proposal)
    assert (before["dataset"]["fileCount"], before["dataset"]["fileSize"]) == (3, 3003)
    assert before["instruments"] == ["ID01"]
    # The worker died after the files and parameters went in, before the journal knew:
    # the links run again with the same earlier results, find them all and change nothing.
    earlier = {"datasets.create_dataset": results["datasets.create_dataset"]}
    assert datasets.register_datafiles(message, client=client, earlier=earlier) == {
        "created": 0, "updated": 0, "unchanged": 3}
    again = datasets.upsert_parameters(message, client=client, earlier=earlier)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert snapshot(checker, proposal) == before
    assert datasets.finalize(message, client=client, earlier=earlier) == {
        "dataset": "sample1_0001", "changed": [], "fileCount": 3, "fileSize": 3003}


def test_files_added_between_a_new_datasets_steps_are_counted(client, checker, uid):
    """A new dataset is created with its message's file totals; a datafile-ingestion of it
    that runs between that message's steps (each step takes the dataset's lock, not the
    whole chain) adds files, and the dataset message's finalize counts them all."""
    proposal = f"B{uid}"
    make_proposal(client, proposal)
    message = DatasetMessage.model_validate(dataset_message(proposal))
    earlier = run_as_chain(DATASET_STEPS[:3], message, client)
    # Its files, not yet its own finalize: the dataset still has the totals it was created with.
    datasets.add_datafiles(DatafileMessage.model_validate({
        "instrument": "ID01", "proposal": proposal, "dataset": "sample1_0001",
        "datafiles": [datafile("late/scan_0009.h5", size=9)],
    }), client=client)
    final = datasets.finalize(message, client=client, earlier=earlier)
    assert (final["fileCount"], final["fileSize"]) == (4, 3012)
    ds = dataset(checker, proposal)
    assert (ds.fileCount, ds.fileSize) == (4, 3012)


def test_xml_twin_gives_the_same_state_as_json(client, checker, uid):
    proposal = f"X{uid}"
    make_proposal(client, proposal)
    xml = f"""<dataset complete="true">
      <instrument>ID01</instrument><investigation>{proposal}</investigation><visit>1</visit>
      <name>sample1_0001</name><type>raw</type>
      <location>/data/ID01/{proposal}/sample1_0001</location>
      <startDate>2026-12-01T10:00:00+01:00</startDate><endDate>2026-12-01T10:20:00+01:00</endDate>
      <comment>Strain map, first position</comment>
      <sample><name>sample1</name></sample>
      <parameter><name>energy</name><value>8.5</value><units>keV</units></parameter>
      <parameter><name>scan_type</name><value>ascan</value><units>N/A</units></parameter>
      <datafile><name>scan_0000.h5</name><location>/data/scan_0000.h5</location><size>1000</size>
        <checksum>adler32:0a1b2c3d</checksum><format>HDF5</format>
        <created>2026-12-01T10:00:05+01:00</created><modified>2026-12-01T10:19:58+01:00</modified>
      </datafile>
    </dataset>"""
    envelope = Envelope(message_type="dataset-ingestion", routing_key="daq.datasets",
                        content_type="application/xml", body=xml.encode())
    from_xml = envelope.parse(DatasetMessage)
    for step in DATASET_STEPS:
        step(from_xml, client=client)
    via_xml = snapshot(checker, proposal)
    json_twin = dataset_message(proposal, datafiles=[datafile("scan_0000.h5", size=1000)])
    results = ingest(client, json_twin)
    assert results[0]["changed"] == [] and results[1]["unchanged"] == 1
    assert results[2]["unchanged"] == 2
    assert snapshot(checker, proposal) == via_xml


def test_datafile_ingestion_adds_files_and_updates_changed_ones(client, checker, uid):
    proposal = f"F{uid}"
    make_proposal(client, proposal)
    ingest(client, dataset_message(proposal, complete=False))
    result = add_files(client, {
        "instrument": "ID01", "proposal": proposal, "dataset": "sample1_0001", "complete": True,
        "datafiles": [datafile("scan_0002.h5", size=5), datafile("extra/scan_0003.h5", size=7)],
    })
    assert result[0] == {"created": 1, "updated": 1, "unchanged": 0}
    ds = dataset(checker, proposal)
    assert (ds.fileCount, ds.fileSize, ds.complete) == (4, 1000 + 1001 + 5 + 7, True)
    files = datafiles(checker, ds.id)
    assert files["scan_0002.h5"].fileSize == 5
    assert files["scan_0000.h5"].fileSize == 1000  # not in the message: untouched


def test_ten_thousand_datafiles_in_one_message(client, checker, uid):
    proposal = f"B{uid}"
    make_proposal(client, proposal)
    files = [datafile(f"frames/frame_{i:05d}.cbf", size=i, format="TIFF") for i in range(10_000)]
    message = DatasetMessage.model_validate(dataset_message(proposal, datafiles=files, parameters=[]))
    datasets.create_dataset(message, client=client)
    assert datasets.register_datafiles(message, client=client, chunk_size=500)["created"] == 10_000
    datasets.finalize(message, client=client)
    ds = dataset(checker, proposal)
    assert (ds.fileCount, ds.fileSize) == (10_000, sum(range(10_000)))
    assert len(datafiles(checker, ds.id)) == 10_000
    # A redelivery converges without creating anything.
    again = datasets.register_datafiles(message, client=client, chunk_size=500)
    assert again == {"created": 0, "updated": 0, "unchanged": 10_000}


def test_visit_is_found_by_the_dataset_start_date(client, checker, uid):
    proposal = f"V{uid}"
    make_proposal(client, proposal, visit="1")
    make_proposal(client, proposal, visit="2",
                  start_date="2027-01-10T08:00:00Z", end_date="2027-01-12T08:00:00Z")
    document = dataset_message(proposal, start_date="2027-01-11T00:00:00Z", end_date=None)
    del document["visit"]
    ingest(client, document)
    assert dataset(checker, proposal).investigation.visitId == "2"
    outside = dataset_message(proposal, dataset="elsewhere", start_date="2028-01-01T00:00:00Z", end_date=None)
    del outside["visit"]
    with pytest.raises(PermanentError, match=r"several visits .* 1 \(.*\), 2 \("):
        ingest(client, outside)


def test_missing_investigation_is_transient_with_the_timeout(client, uid):
    message = DatasetMessage.model_validate(dataset_message(f"M{uid}"))
    with pytest.raises(TransientError, match="not in ICAT yet") as raised:
        datasets.create_dataset(message, client=client)
    assert raised.value.give_up_after == 6.0


def test_missing_dataset_for_datafiles_is_transient(client, uid):
    proposal = f"N{uid}"
    make_proposal(client, proposal)
    message = DatafileMessage.model_validate({
        "instrument": "ID01", "proposal": proposal, "dataset": "nope", "datafiles": [datafile("a")]})
    with pytest.raises(TransientError, match="dataset 'nope' .* not in ICAT yet"):
        datasets.add_datafiles(message, client=client)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"instrument": "NOPE"}, "unknown instrument 'NOPE'"),
        ({"type": "cooked"}, "unknown dataset type 'cooked'"),
        ({"datafiles": [datafile("a.x", format="JPEG")]}, "unknown datafile format 'JPEG'"),
        ({"datafiles": [datafile("a.x", format="NeXus")]}, "several versions, name one of: NeXus/4.3, NeXus/4.4"),
        ({"parameters": [{"name": "flux", "units": "ph/s", "value": 1}]}, "unknown parameter type 'flux' \\[ph/s\\]"),
        ({"parameters": [{"name": "temperature", "value": 300}]}, "parameter 'temperature' needs its units"),
        ({"parameters": [{"name": "energy", "units": "keV", "value": "high"}]}, "'high' is not a number"),
        ({"parameters": [{"name": "scan_start", "units": "N/A", "value": "2026-12-01T10:00:00"}]},
         "has no timezone"),
        ({"parameters": [{"name": "scan_start", "units": "N/A", "value": 5}]}, "is not a timestamp"),
    ],
)
def test_permanent_errors_change_nothing(client, checker, uid, change, reason):
    proposal = f"E{uid}"
    make_proposal(client, proposal)
    with pytest.raises(PermanentError, match=reason):
        ingest(client, dataset_message(proposal, **change))
    assert checker.search(
        f"SELECT ds FROM Dataset ds JOIN ds.investigation i WHERE i.name = '{proposal}'"
    ) == []


def test_format_with_version_and_date_parameter(client, checker, uid):
    proposal = f"G{uid}"
    make_proposal(client, proposal)
    ingest(client, dataset_message(
        proposal,
        datafiles=[datafile("a.nxs", format="NeXus/4.4")],
        parameters=[{"name": "scan_start", "value": "2026-12-01T10:00:00+01:00"},
                    {"name": "temperature", "units": "K", "value": "300"}],
    ))
    ds = dataset(checker, proposal)
    assert datafiles(checker, ds.id)["a.nxs"].datafileFormat.version == "4.4"
    assert parameters(checker, ds.id) == {
        ("scan_start", "N/A"): datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        ("temperature", "K"): 300.0,
    }


def test_unknown_parameter_types_are_skipped_when_not_strict(client, checker, uid):
    proposal = f"K{uid}"
    make_proposal(client, proposal)
    ingest(client, dataset_message(proposal, parameters=[]))
    message = DatasetMessage.model_validate(dataset_message(proposal, parameters=[
        {"name": "energy", "units": "keV", "value": 9}, {"name": "flux", "units": "ph/s", "value": 1}]))
    with pytest.raises(PermanentError, match="unknown parameter type 'flux'"):
        datasets.upsert_parameters(message, client=client, strict=True)
    result = datasets.upsert_parameters(message, client=client, strict=False)
    assert result["skipped_unknown_types"] == ["'flux' [ph/s]"]
    assert parameters(checker, dataset(checker, proposal).id) == {("energy", "keV"): 9.0}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"start_date": "2026-12-01T10:00:00"}, "start_date: Input should have timezone info"),
        ({"end_date": "2026-12-01T09:00:00+01:00"}, "end_date must not be before start_date"),
        ({"datafiles": [datafile("a"), datafile("a")]}, "datafile 'a' appears more than once"),
        ({"datafiles": [datafile("a", size=-1)]}, "datafiles.0.size"),
    ],
)
def test_invalid_messages_are_rejected_by_the_model(change, problem):
    envelope = Envelope(message_type="dataset-ingestion", routing_key="daq.datasets",
                        content_type="application/json",
                        body=json.dumps(dataset_message("1", **change)).encode())
    with pytest.raises(InvalidMessage, match=problem):
        envelope.parse(DatasetMessage)


def test_datafiles_without_visit_find_the_visit_holding_the_dataset(client, checker, uid):
    proposal = f"W{uid}"
    make_proposal(client, proposal, visit="1")
    make_proposal(client, proposal, visit="2",
                  start_date="2027-01-10T08:00:00Z", end_date="2027-01-12T08:00:00Z")
    ingest(client, dataset_message(proposal, dataset="only-in-2", visit="2",
                                   start_date="2027-01-11T00:00:00Z", end_date=None))
    add_files(client, {"instrument": "ID01", "proposal": proposal, "dataset": "only-in-2",
                       "datafiles": [datafile("late.h5", size=1)]})
    assert dataset(checker, proposal, "only-in-2").fileCount == 4
    for visit in ("1", "2"):
        ingest(client, dataset_message(proposal, dataset="both", visit=visit,
                                       start_date="2027-01-11T00:00:00Z", end_date=None))
    with pytest.raises(PermanentError, match=r"dataset 'both' exists in several visits .* \(1, 2\)"):
        add_files(client, {"instrument": "ID01", "proposal": proposal, "dataset": "both",
                           "datafiles": [datafile("x.h5")]})


def test_datafiles_with_unknown_references_do_not_wait(client, uid):
    for change, reason in (({"instrument": "NOPE"}, "unknown instrument"),
                           ({"datafiles": [datafile("a", format="JPEG")]}, "unknown datafile format")):
        document = {"instrument": "ID01", "proposal": f"never{uid}", "dataset": "d",
                    "datafiles": [datafile("a")], **change}
        with pytest.raises(PermanentError, match=reason):
            add_files(client, document)
