"""``GET /testbox/requests``: the testbox counts the SOAP requests of each operation it
handles, and python-icat's calls move the counts by exactly the operations they make."""

from __future__ import annotations

import json
import urllib.request

import icat
import icat.exception
import pytest
from testbox_support import ROOT

from testbox.server import IcatHTTPServer
from testbox.wsdl import OPERATION_NAMES


def request_counts(server: IcatHTTPServer) -> dict[str, int]:
    with urllib.request.urlopen(f"{server.url}/testbox/requests", timeout=10) as answer:
        assert answer.headers["Content-Type"] == "application/json"
        return json.load(answer)


def made(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The operations between two readings, with how many of each."""
    return {op: after[op] - before[op] for op in after if after[op] != before[op]}


def test_every_operation_is_listed(server: IcatHTTPServer) -> None:
    counts = request_counts(server)
    assert set(counts) == OPERATION_NAMES
    assert all(isinstance(n, int) and n >= 0 for n in counts.values())


def test_counts_go_up_by_the_operations_made(server: IcatHTTPServer, client: icat.Client) -> None:
    before = request_counts(server)
    facility = client.new("Facility", name="COUNTED", fullName="Counted facility")
    facility.create()
    client.createMany([client.new("DatasetType", name=f"type{i}", facility=facility) for i in range(3)])
    (found,) = client.search("SELECT f FROM Facility f WHERE f.name = 'COUNTED'")
    found.fullName = "Counted facility, renamed"
    found.update()
    client.search("SELECT t FROM DatasetType t")
    client.get("Facility", found.id)
    assert made(before, request_counts(server)) == {
        "create": 1, "createMany": 1, "search": 2, "update": 1, "get": 1,
    }


def test_a_refused_call_counts_too(server: IcatHTTPServer, client: icat.Client) -> None:
    """A fault still cost the client a round trip."""
    before = request_counts(server)
    with pytest.raises(icat.exception.ICATParameterError):
        client.search("SELECT nonsense FROM")
    assert made(before, request_counts(server)) == {"search": 1}


def test_login_and_logout_count(server: IcatHTTPServer, client: icat.Client) -> None:
    other = icat.Client(client.url)
    before = request_counts(server)
    other.login("db", {"username": ROOT[0], "password": ROOT[1]})
    other.logout()
    # python-icat's login asks for the session's remaining minutes (for autoRefresh).
    assert made(before, request_counts(server)) == {"login": 1, "getRemainingMinutes": 1, "logout": 1}


def test_reading_the_counts_is_no_request(server: IcatHTTPServer) -> None:
    assert request_counts(server) == request_counts(server)
