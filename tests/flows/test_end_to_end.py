"""Whole flows: a message published to RabbitMQ → bridge → in-process Celery worker → ICAT,
checked through python-icat; failures checked in the dead-letter queue; and for every
message these tests send, the journal tells what happened to it and why."""

from __future__ import annotations

import json
import time
from importlib import resources

import pytest

from pacer_celery.journal import FINAL, journal, search
from tests.core import conftest as core
from tests.core.conftest import dead_letters, wait_for
from tests.flows.conftest import dataset_message, datafile, proposal_message, user_message

USERS, PROPOSALS, DATASETS, DATAFILES = "uos.users", "uos.proposals", "daq.datasets", "daq.datafiles"
#: The ids of the messages the running test sent.
SENT: list[str] = []


def send(*args, **kwargs) -> None:
    SENT.append(core.send(*args, **kwargs))


@pytest.fixture(autouse=True)
def journal_tells_each_fate():
    """After each test: every message it sent met a fate the journal explains."""
    SENT.clear()
    yield
    for message_id in SENT:
        life = wait_for(lambda: _final(message_id), timeout=60, what=f"message {message_id} to end")
        message, steps = life.message, life.steps
        if message["status"] == "done":
            assert steps and all(s.status in ("ok", "retrying") for s in steps), steps
            assert steps[-1].status == "ok" and message["finished_at"] is not None
        elif message["status"] == "superseded":
            assert message["superseded_by"]
        else:
            assert message["status"] in ("dead-lettered", "invalid") and message["error"]
            assert message["dead_letter_id"]


def _final(message_id: str):
    with journal().engine.connect() as connection:
        life = search.timeline(connection, message_id)
    return life if life is not None and life.message["status"] in FINAL else None


def letters_about(broker, uid):
    return dead_letters(broker, lambda letter: uid.encode() in letter.body)


def found(checker, query):
    return lambda: checker.search(query)


def dataset_counts(checker, proposal, name="sample1_0001"):
    rows = checker.search(
        f"SELECT ds FROM Dataset ds JOIN ds.investigation i WHERE i.name = '{proposal}' "
        f"AND ds.name = '{name}'"
    )
    return (rows[0].fileCount, rows[0].fileSize, rows[0].complete) if rows else None


def test_user_update_as_the_user_office_sends_it(broker, checker, uid):
    # The User Office System sets the content type only as a header.
    send(broker, user_message(f"u{uid}", last_name="O'Brien"), routing_key=USERS,
         content_type=None, headers={"source": "uos", "content-type": "application/json"})
    (user,) = wait_for(found(checker, f"SELECT u FROM User u WHERE u.name = 'uos/u{uid}'"),
                       what="the user in ICAT")
    assert user.fullName == "Jane O'Brien"


def test_proposal_then_dataset_then_more_files(broker, checker, uid):
    proposal = f"E2E{uid}"
    send(broker, proposal_message(proposal), routing_key=PROPOSALS)
    wait_for(found(checker, f"SELECT ug FROM UserGroup ug JOIN ug.grouping g "
                            f"WHERE g.name = 'investigation_{proposal}_1'"),
             what="the team's access")
    send(broker, dataset_message(proposal, complete=False), routing_key=DATASETS)
    wait_for(lambda: dataset_counts(checker, proposal) == (3, 3003, False), what="the dataset finalized")
    send(broker, {"instrument": "ID01", "proposal": proposal, "visit": "1", "dataset": "sample1_0001",
                  "datafiles": [datafile("scan_0003.h5", size=7)], "complete": True},
         routing_key=DATAFILES)
    wait_for(lambda: dataset_counts(checker, proposal) == (4, 3010, True), what="the added file counted")
    assert letters_about(broker, uid) == []


def test_legacy_xml_dataset(broker, checker, uid):
    proposal = f"XML{uid}"
    send(broker, proposal_message(proposal), routing_key=PROPOSALS)
    xml = f"""<dataset complete="true"><instrument>ID01</instrument>
      <investigation>{proposal}</investigation><visit>1</visit><name>sample1_0001</name>
      <startDate>2026-12-01T10:00:00+01:00</startDate>
      <parameter><name>energy</name><value>8.5</value><units>keV</units></parameter>
      <datafile><name>scan_0001.h5</name><size>1048576</size><format>HDF5</format></datafile>
    </dataset>"""
    send(broker, xml, routing_key=DATASETS, content_type="application/xml")
    # A new dataset shows its file totals from its creation: its parameter comes two steps later.
    (value,) = wait_for(found(checker, f"SELECT p.numericValue FROM DatasetParameter p JOIN p.dataset ds "
                                       f"JOIN ds.investigation i WHERE i.name = '{proposal}'"),
                        what="the XML dataset's parameter")
    assert value == 8.5
    assert dataset_counts(checker, proposal) == (1, 1048576, True)


def test_dataset_waits_for_its_proposal(broker, checker, uid):
    proposal = f"LATE{uid}"
    send(broker, dataset_message(proposal), routing_key=DATASETS)
    time.sleep(1.5)  # the dataset is being retried meanwhile
    assert dataset_counts(checker, proposal) is None
    send(broker, proposal_message(proposal), routing_key=PROPOSALS)
    wait_for(lambda: dataset_counts(checker, proposal) == (3, 3003, True), what="the late dataset")
    assert letters_about(broker, uid) == []


def test_dataset_whose_proposal_never_comes_is_dead_lettered(broker, checker, uid):
    send(broker, dataset_message(f"NEVER{uid}"), routing_key=DATASETS)
    # PACER_MISSING_INVESTIGATION_TIMEOUT is 6 s in these tests.
    (letter,) = wait_for(lambda: letters_about(broker, uid), timeout=60, what="the dead letter")
    assert letter.failed_steps == ["datasets.create_dataset"]
    assert "not in ICAT yet (waiting for its proposal-update)" in letter.reason
    assert letter.reason.startswith("datasets.create_dataset: gave up after")
    assert letter.identifiers == {"instrument": "ID01", "dataset": "sample1_0001", "proposal": f"NEVER{uid}"}


def test_unknown_instrument_is_dead_lettered_at_once(broker, checker, uid):
    proposal = f"BAD{uid}"
    send(broker, proposal_message(proposal), routing_key=PROPOSALS)
    send(broker, dataset_message(proposal, instrument="ID99"), routing_key=DATASETS)
    (letter,) = wait_for(lambda: letters_about(broker, uid), what="the dead letter")
    assert letter.attempts == 1
    assert letter.errors[0].step == "datasets.create_dataset"
    assert "unknown instrument 'ID99'" in letter.errors[0].error
    assert dataset_counts(checker, proposal) is None


def test_invalid_message_is_dead_lettered_with_the_reason(broker, uid):
    document = dataset_message(f"NAIVE{uid}", start_date="2026-12-01T10:00:00")
    send(broker, json.dumps(document), routing_key=DATASETS)
    (letter,) = wait_for(lambda: letters_about(broker, uid), what="the dead letter")
    assert letter.failed_steps == ["validate"]
    assert "start_date: Input should have timezone info" in letter.reason


def test_ten_thousand_datafiles_through_the_pipeline(broker, checker, uid):
    proposal = f"BIG{uid}"
    send(broker, proposal_message(proposal), routing_key=PROPOSALS)
    files = [{"name": f"f/{i:05d}.cbf", "size": 1, "format": "TIFF"} for i in range(10_000)]
    send(broker, dataset_message(proposal, datafiles=files), routing_key=DATASETS)
    wait_for(lambda: dataset_counts(checker, proposal) == (10_000, 10_000, True), timeout=280,
             what="10 000 datafiles counted")
    assert letters_about(broker, uid) == []


def test_the_bundled_examples(broker, checker):
    """The examples `pacer demo` processes: everything lands, the invalid one is dead-lettered."""
    examples = resources.files("pacer_celery") / "examples"
    published = [
        ("user.json", USERS), ("proposal.json", PROPOSALS), ("dataset.json", DATASETS),
        ("dataset-legacy.xml", DATASETS), ("invalid-dataset.json", DATASETS),
    ]
    for name, routing_key in published:
        content_type = "application/xml" if name.endswith(".xml") else "application/json"
        send(broker, (examples / name).read_bytes(), routing_key=routing_key, content_type=content_type)
    wait_for(lambda: dataset_counts(checker, "20261234") == (1, 1048576, True), what="the example dataset")
    # datafiles.json after the dataset is in: its file adds to the count.
    send(broker, (examples / "datafiles.json").read_bytes(), routing_key=DATAFILES)
    wait_for(lambda: dataset_counts(checker, "20261234") == (2, 1048576 + 2097152, True),
             what="the example datafile")
    (jdoe,) = checker.search("SELECT u FROM User u WHERE u.name = 'uos/jdoe'")
    assert jdoe.orcidId == "0000-0002-1825-0097"
    (letter,) = wait_for(
        lambda: dead_letters(broker, lambda letter: b"sample1_0002" in letter.body), what="the invalid one"
    )
    assert "start_date: Input should have timezone info" in letter.reason


def test_a_message_delivered_twice_converges(broker, checker, uid):
    proposal = f"TWICE{uid}"
    send(broker, proposal_message(proposal), routing_key=PROPOSALS)
    send(broker, proposal_message(proposal), routing_key=PROPOSALS)
    wait_for(found(checker, f"SELECT ug FROM UserGroup ug JOIN ug.grouping g "
                            f"WHERE g.name = 'investigation_{proposal}_1'"), what="the proposal")
    send(broker, dataset_message(proposal), routing_key=DATASETS)
    send(broker, dataset_message(proposal), routing_key=DATASETS)
    wait_for(lambda: dataset_counts(checker, proposal) == (3, 3003, True), what="the dataset")
    # Both copies are processed (possibly at the same time); nothing is doubled or dead-lettered.
    time.sleep(3)
    assert letters_about(broker, uid) == []
    assert dataset_counts(checker, proposal) == (3, 3003, True)
    assert len(checker.search(f"SELECT i FROM Investigation i WHERE i.name = '{proposal}'")) == 1
    assert len(checker.search(
        f"SELECT iu FROM InvestigationUser iu JOIN iu.investigation i WHERE i.name = '{proposal}'")) == 2
    assert len(checker.search(
        f"SELECT p FROM DatasetParameter p JOIN p.dataset ds JOIN ds.investigation i "
        f"WHERE i.name = '{proposal}'")) == 2
