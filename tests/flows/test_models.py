"""The payload models: what is valid, and the legacy XML read like its JSON twin."""

from __future__ import annotations

import json
import time

import pytest

from pacer_celery.envelope import Envelope
from pacer_celery.errors import InvalidMessage
from pacer_celery.models.datasets import MAX_DATAFILES, MAX_PARAMETERS, DatafileMessage, DatasetMessage
from pacer_celery.models.proposals import MAX_INSTRUMENTS, MAX_TEAM, ProposalMessage
from pacer_celery.models.users import UserMessage
from tests.flows.conftest import dataset_message, proposal_message, user_message


def parse(model, body, content_type="application/json"):
    if isinstance(body, dict):
        body = json.dumps(body)
    body = body.encode() if isinstance(body, str) else body
    return Envelope(message_type="t", routing_key="r", content_type=content_type, body=body).parse(model)


def test_user_fields_are_normalised():
    user = parse(UserMessage, user_message(" jdoe ", orcid="https://orcid.org/0000-0002-1694-233x",
                                           email="", affiliation="  "))
    assert user.username == "jdoe"
    assert user.orcid == "0000-0002-1694-233X"
    assert user.email is None and user.affiliation is None
    assert user.updated_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"username": "j doe"}, "username: String should match pattern"),
        ({"username": "x" * 65}, "username: String should have at most 64 characters"),
        ({"orcid": "0000-0002-1825-0098"}, "orcid: Value error, ORCID iD 0000-0002-1825-0098 has a wrong check digit"),
        ({"orcid": "1234"}, "orcid: Value error, not an ORCID iD"),
        ({"email": "jane@"}, "email: Value error, not an e-mail address"),
        ({"updated_at": "2026-11-27T10:15:00"}, "updated_at: Input should have timezone info"),
    ],
)
def test_invalid_users(change, problem):
    with pytest.raises(InvalidMessage, match=problem):
        parse(UserMessage, {**user_message("jdoe"), **change})


def test_unknown_fields_are_ignored_but_recorded():
    user = parse(UserMessage, user_message("jdoe", shoe_size=42))
    assert user.ignored_fields == ["shoe_size"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"end_date": "2026-12-01T08:00:00+01:00"}, "end_date must be after start_date"),
        ({"team": [{"username": "x", "role": "boss"}]}, "team.0.role: Input should be 'principal_investigator'"),
        ({"status": "maybe"}, "status: Input should be 'scheduled' or 'cancelled'"),
        ({"title": "  "}, "title: String should have at least 1 character"),
        ({"start_date": "2026-12-01"}, "start_date"),
    ],
)
def test_invalid_proposals(change, problem):
    with pytest.raises(InvalidMessage, match=problem):
        parse(ProposalMessage, proposal_message("1", **change))


def test_proposal_defaults_and_numbers_as_ids():
    document = proposal_message("1")
    del document["visit"], document["status"]
    document["proposal"] = 20261234
    message = parse(ProposalMessage, document)
    assert (message.proposal, message.visit, message.status) == ("20261234", "1", "scheduled")
    assert message.grouping_name == "investigation_20261234_1"


SINGLE = """<dataset complete="false">
  <instrument> ID01 </instrument><investigation>20261234</investigation>
  <name>sample1_0001</name><startDate>2026-12-01T10:00:00Z</startDate>
  <description>new words</description><comment>old words</comment>
  <parameter><name>energy</name><value>8.5</value><units>keV</units></parameter>
  <datafile><name>a.h5</name><size>12</size></datafile>
</dataset>"""


def test_xml_single_elements_are_lists_and_names_are_mapped():
    message = parse(DatasetMessage, SINGLE, "application/xml")
    assert message.instrument == "ID01" and message.proposal == "20261234"
    assert message.dataset == "sample1_0001" and message.visit is None
    assert message.complete is False and message.type == "raw"
    assert message.description == "new words"
    assert [(p.name, p.units, p.value) for p in message.parameters] == [("energy", "keV", "8.5")]
    assert [(d.name, d.size) for d in message.datafiles] == [("a.h5", 12)]


def test_xml_comment_is_the_description_when_there_is_no_description():
    message = parse(DatasetMessage, SINGLE.replace("<description>new words</description>", ""),
                    "application/xml")
    assert message.description == "old words"


def test_xml_is_validated_like_json():
    naive = SINGLE.replace("2026-12-01T10:00:00Z", "2026-12-01T10:00:00")
    with pytest.raises(InvalidMessage, match="start_date: Input should have timezone info"):
        parse(DatasetMessage, naive, "application/xml")
    bad_size = SINGLE.replace("<size>12</size>", "<size>twelve</size>")
    with pytest.raises(InvalidMessage, match="datafiles.0.size"):
        parse(DatasetMessage, bad_size, "application/xml")


def test_billion_laughs_is_rejected_quickly():
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join(f'<!ENTITY lol{i} "{"&lol" + str(i - 1) + ";" if i else "&lol;"}' * 10 + '">'
                      for i in range(1, 10))
            + ']><dataset><name>&lol9;</name></dataset>')
    started = time.monotonic()
    with pytest.raises(InvalidMessage, match="DOCTYPE"):
        parse(DatasetMessage, bomb, "application/xml")
    assert time.monotonic() - started < 5


def test_datafile_messages_have_no_xml_form():
    with pytest.raises(InvalidMessage, match="no XML form"):
        parse(DatafileMessage, "<datafiles/>", "application/xml")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"parameters": [{"name": "energy", "units": "keV", "value": 1},
                         {"name": "energy", "units": "keV", "value": 2}]},
         "parameters: given more than once: energy \\[keV\\]"),
        ({"parameters": [{"name": "energy", "value": None}]}, "parameters.0.value"),
        ({"location": "x" * 512}, "location: String should have at most 511 characters"),
        ({"dataset": ""}, "dataset: String should have at least 1 character"),
    ],
)
def test_invalid_datasets(change, problem):
    with pytest.raises(InvalidMessage, match=problem):
        parse(DatasetMessage, dataset_message("1", **change))


def test_ten_thousand_datafiles_are_an_ordinary_message():
    files = [{"name": f"scan_{i:05d}.h5", "size": 2**40, "location": f"/data/{i}"} for i in range(10_000)]
    message = parse(DatasetMessage, dataset_message("1", datafiles=files))
    assert len(message.datafiles) == 10_000


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"datafiles": [{"name": f"f{i}"} for i in range(MAX_DATAFILES + 1)]},
         f"datafiles: List should have at most {MAX_DATAFILES} items"),
        ({"parameters": [{"name": f"p{i}", "value": i} for i in range(100_000)]},
         f"parameters: List should have at most {MAX_PARAMETERS} items"),
    ],
    ids=["datafiles", "parameters"],
)
def test_lists_have_limits(change, problem):
    with pytest.raises(InvalidMessage, match=problem):
        parse(DatasetMessage, dataset_message("1", **change))


def test_proposal_lists_have_limits():
    with pytest.raises(InvalidMessage, match=f"team: List should have at most {MAX_TEAM} items"):
        parse(ProposalMessage, proposal_message("1", team=[{"username": "u", "role": "team_member"}] * (MAX_TEAM + 1)))
    with pytest.raises(InvalidMessage, match=f"instruments: List should have at most {MAX_INSTRUMENTS} items"):
        parse(ProposalMessage, proposal_message("1", instruments=["ID01"] * (MAX_INSTRUMENTS + 1)))


def test_lengths_are_counted_as_icat_counts_them():
    emoji = "\U0001F600"
    assert parse(DatasetMessage, dataset_message("1", dataset=emoji * 127 + "x")).dataset == emoji * 127 + "x"
    with pytest.raises(InvalidMessage, match="dataset: String should have at most 255 characters as ICAT counts "
                                             r"them \(UTF-16 code units\), not 256"):
        parse(DatasetMessage, dataset_message("1", dataset=emoji * 128))


def test_the_grouping_name_must_fit():
    team = [{"username": "u", "role": "team_member"}]
    assert parse(ProposalMessage, proposal_message("9" * 239, team=team)).grouping_name == f"investigation_{'9' * 239}_1"
    with pytest.raises(InvalidMessage, match="proposal and visit make the ICAT Grouping name"):
        parse(ProposalMessage, proposal_message("9" * 240, team=team))
