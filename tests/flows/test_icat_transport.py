"""PACER's ICAT client keeps its HTTP connection open between requests (icat/transport.py)."""

from __future__ import annotations

import time

import icat.exception
import pytest

from pacer_celery.icat import transport
from pacer_celery.icat.query import search


def connection_of(client):
    return client.options.transport._local.connection


def test_requests_share_one_connection(client):
    search(client, "Facility")
    first = connection_of(client)
    assert first is not None and first.sock is not None
    for _ in range(5):
        search(client, "Facility")
    assert connection_of(client) is first and first.sock is not None


def test_a_connection_idle_too_long_is_not_reused(client, monkeypatch):
    search(client, "Facility")
    first = connection_of(client)
    monkeypatch.setattr(transport, "MAX_IDLE_SECONDS", 0.05)
    time.sleep(0.1)
    search(client, "Facility")
    assert connection_of(client) is not first
    assert first.sock is None  # closed, not leaked


def test_icat_faults_still_arrive_as_python_icat_exceptions(client):
    search(client, "Facility")
    kept = connection_of(client)
    with pytest.raises(icat.exception.ICATParameterError):
        client.search("SELECT o FROM NoSuchEntity o")
    # A fault is an answer like any other: the connection stays.
    search(client, "Facility")
    assert connection_of(client) is kept


def test_a_broken_connection_fails_the_request_in_hand_and_the_next_gets_a_new_one(client):
    search(client, "Facility")
    # As when ICAT restarts under it: the step retries, as for any network fault.
    connection_of(client).sock.shutdown(2)
    with pytest.raises(OSError):
        search(client, "Facility")
    assert search(client, "Facility")
